import type { DataSource, EntityMetadata, EntityTarget } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import { SessionOptionsError } from '../../core/session.exceptions.js';
import { pgQuery } from './pg-query.js';

// A PostgreSQL type name that is safe to write into a cast as it is.
const PLAIN_TYPE = /^[a-z][a-z0-9 ]*$/;

/**
 * The app's TypeORM user entity, read with hand-written SQL: by primary key, or in the same
 * statement as a session (a LEFT JOIN), which makes a cache miss one round trip instead of a
 * session lookup followed by `resolveUser`. The columns are those `findOneBy` would load
 * (`select: false` ones, such as a password hash, stay out), hydrated the way TypeORM does
 * (transformers, embedded columns); relations are not loaded and `@AfterLoad` does not run.
 */
export class EntityUsers<TUser = unknown> {
  private readonly metadata: EntityMetadata;
  private readonly columns: { column: ColumnMetadata; alias: string }[];
  private readonly key: ColumnMetadata;
  private readonly keyAlias: string;
  private readonly table: string;
  private readonly cast: string;
  private readonly byIdSql: string;

  constructor(
    private readonly dataSource: DataSource,
    target: EntityTarget<TUser>,
  ) {
    if (!dataSource.hasMetadata(target)) {
      throw new SessionOptionsError(
        'userEntity',
        `got ${typeof target === 'function' ? target.name : String(target)}, which is not an entity of the DataSource; add it to TypeOrmModule.forRoot's entities (or use autoLoadEntities with TypeOrmModule.forFeature([User])).`,
      );
    }
    this.metadata = dataSource.getMetadata(target);
    if (this.metadata.primaryColumns.length !== 1) {
      throw new SessionOptionsError('userEntity', `${this.metadata.name} has ${this.metadata.primaryColumns.length} primary key columns; expected exactly one (the user id sessions refer to). Use resolveUser instead.`);
    }
    const driver = dataSource.driver;
    this.key = this.metadata.primaryColumns[0];
    this.columns = this.metadata.columns
      .filter((column) => column.isSelect && !column.isVirtual && !column.isVirtualProperty)
      .map((column, i) => ({ column, alias: `nss_u${i}` }));
    const keyColumn = this.columns.find((c) => c.column === this.key);
    if (!keyColumn) throw new SessionOptionsError('userEntity', `${this.metadata.name}'s primary key is select: false; sessions need to read it. Use resolveUser instead.`);
    this.keyAlias = keyColumn.alias;
    this.table = (this.metadata.schema ? `${driver.escape(this.metadata.schema)}.` : '') + driver.escape(this.metadata.tableName);
    // sessions.user_id has the users' key type when the migration named the users table, and
    // varchar otherwise; cast it to the key's type so the users' primary key index is used.
    const type = driver.normalizeType(this.key);
    this.cast = PLAIN_TYPE.test(type) ? `::${type}` : '';
    this.byIdSql = `SELECT ${this.selectList('u')} FROM ${this.table} u WHERE u.${driver.escape(this.key.databaseName)} = $1${this.cast}`;
  }

  /** The user columns, aliased, for a SELECT in which the users table is `alias`. */
  selectList(alias: string): string {
    const driver = this.dataSource.driver;
    return this.columns.map(({ column, alias: as }) => `${alias}.${driver.escape(column.databaseName)} AS ${as}`).join(', ');
  }

  /** `LEFT JOIN users <alias> ON <alias>.key = <userIdSql>`. */
  leftJoin(alias: string, userIdSql: string): string {
    return `LEFT JOIN ${this.table} ${alias} ON ${alias}.${this.dataSource.driver.escape(this.key.databaseName)} = ${userIdSql}${this.cast}`;
  }

  /** The user in a row selected with `selectList`, or null when the join found none. */
  hydrate(row: Record<string, unknown>): TUser | null {
    if (row[this.keyAlias] === null || row[this.keyAlias] === undefined) return null;
    const driver = this.dataSource.driver;
    const user = this.metadata.create() as TUser & object;
    for (const { column, alias } of this.columns) column.setEntityValue(user, driver.prepareHydratedValue(row[alias], column));
    return user;
  }

  /** The user with this id, or null. */
  async findById(userId: string): Promise<TUser | null> {
    const { rows } = await pgQuery<Record<string, unknown>>(this.dataSource, this.byIdSql, [userId]);
    return rows[0] ? this.hydrate(rows[0]) : null;
  }
}

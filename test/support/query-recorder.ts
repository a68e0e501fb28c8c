import type { Logger as TypeOrmLogger } from 'typeorm';

export interface RecordedQuery {
  sql: string;
  params: unknown[];
}

/** A TypeORM logger that keeps every statement sent, so tests can count and inspect them. */
export class QueryRecorder implements TypeOrmLogger {
  readonly queries: RecordedQuery[] = [];

  logQuery(sql: string, params?: unknown[]): void {
    this.queries.push({ sql, params: params ?? [] });
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}

  clear(): void {
    this.queries.length = 0;
  }

  /** Statements whose SQL starts with `verb` (SELECT, UPDATE, …). */
  count(verb?: string): number {
    return verb ? this.queries.filter((q) => q.sql.trimStart().toUpperCase().startsWith(verb)).length : this.queries.length;
  }
}

import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { SessionModuleOptions } from './core/session.interfaces.js';
import { dataSourceName, registerSessionEntity, sessionDataSourceProviders } from './stores/typeorm/session-data-source.js';

/**
 * Given when the module is defined: beside useFactory in forRootAsync, among the options in
 * forRoot. `dataSource` is one because the DataSource's injection token must be known before
 * any factory runs.
 */
interface SessionModuleExtras {
  isGlobal?: boolean;
  /** The name of the @nestjs/typeorm DataSource (as in `TypeOrmModule.forRoot({ name })`); default the default one. */
  dataSource?: string;
}

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: SESSION_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<SessionModuleOptions<unknown>>({ moduleName: 'Session' })
  .setClassMethodName('forRoot')
  // `dataSource` has no default on purpose: forRoot drops the keys of the defaults from the
  // options it provides, and this one must reach the options too (where it is checked against
  // the tokens chosen here). forRoot's `extras` are all of its options, forRootAsync's every key
  // beside useFactory, inject, imports.
  .setExtras<SessionModuleExtras>({ isGlobal: false }, (definition, extras) => {
    const name = dataSourceName(extras.dataSource);
    registerSessionEntity(name, (extras as { storage?: unknown }).storage);
    return { ...definition, global: extras.isGlobal, providers: [...(definition.providers ?? []), ...sessionDataSourceProviders(name)] };
  })
  .build();

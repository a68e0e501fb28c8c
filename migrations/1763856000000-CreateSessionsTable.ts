// The library's own migration, listed here so `npm run migration:run` creates the sessions table.
export { CreateSessionsTable1763856000000 } from '../src/session/index.js';

// The library's sessions table, tied to the demo's users by a foreign key.
export { CreateSessionsTable1763856000000 } from '../migrations.js';

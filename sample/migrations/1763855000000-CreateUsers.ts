// The demo's users table; the demo app runs the same classes at start (sample/migrations.ts).
export { CreateUsers1763855000000 } from '../migrations.js';

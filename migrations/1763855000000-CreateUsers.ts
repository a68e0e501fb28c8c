// The demo's users table; the demo app runs the same classes at start (src/demo/migrations.ts).
export { CreateUsers1763855000000 } from '../src/demo/migrations.js';

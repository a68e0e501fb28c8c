// The library's session_details table (the demo's device list, re-authentication, session data).
export { CreateSessionDetails1763857000000 } from '../migrations.js';

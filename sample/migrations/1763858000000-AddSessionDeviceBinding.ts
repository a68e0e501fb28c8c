// The device-bound columns of session_details (SESSION_DEVICE_BOUND), for a table made before them.
export { AddSessionDeviceBinding1763858000000 } from '../migrations.js';

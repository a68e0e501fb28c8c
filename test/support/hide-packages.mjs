// `node --import ./test/support/hide-packages.mjs`: the packages named in HIDE_PACKAGES
// (comma-separated) cannot be resolved, by import or require, as if they were not installed.
import { registerHooks } from 'node:module';

const hidden = (process.env.HIDE_PACKAGES ?? '').split(',').filter(Boolean);

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (hidden.some((name) => specifier === name || specifier.startsWith(`${name}/`))) {
      throw Object.assign(new Error(`Cannot find package '${specifier}' (hidden by the test)`), { code: 'ERR_MODULE_NOT_FOUND' });
    }
    return nextResolve(specifier, context);
  },
});

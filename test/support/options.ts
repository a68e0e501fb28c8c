import { expect } from '@jest/globals';
import { SessionOptionsError } from '../../src/core/session.exceptions.js';
import { resolveSessionOptions } from '../../src/options/resolve-options.js';
import type { SessionModuleOptions } from '../../src/options/session-module.options.js';

/** The SessionOptionsError `options` are refused with; fails the test when they are accepted. */
export function refusal(options: unknown): SessionOptionsError {
  try {
    resolveSessionOptions(options as SessionModuleOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(SessionOptionsError);
    return error as SessionOptionsError;
  }
  throw new Error('expected the options to be refused');
}

// Jest runs the TypeScript sources as native ESM through @swc/jest; see README "Development".
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    target: 'es2023',
    keepClassNames: true,
  },
  module: { type: 'es6' },
  sourceMaps: 'inline',
};

/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    // The sample app imports the library by its package name; under Jest that is the sources.
    '^nestjs-sessions$': '<rootDir>/src/index.ts',
    '^nestjs-sessions/passport$': '<rootDir>/src/passport.ts',
    '^nestjs-sessions/cli$': '<rootDir>/src/cli/index.ts',
    '^nestjs-sessions/socket.io$': '<rootDir>/src/transports/socket-io.adapter.ts',
    '^nestjs-sessions/ws$': '<rootDir>/src/transports/ws.adapter.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  testTimeout: 30_000,
};

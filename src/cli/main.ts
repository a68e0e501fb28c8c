#!/usr/bin/env node
// The `nestjs-sessions` command (package.json "bin"): `nestjs-sessions --help` says what it does.
import 'reflect-metadata';
import { runSessionsCli } from './cli.js';

process.exitCode = await runSessionsCli(process.argv.slice(2));

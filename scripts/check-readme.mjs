#!/usr/bin/env node
// Type-checks every ```ts block of README.md against this package as built (dist/ and its
// .d.ts), so the README's snippets cannot rot. Run `npm run -s build` first.
//
//   node scripts/check-readme.mjs [README.md] [--keep]
//
// The convention, as the README's "The snippets are checked" paragraph tells its reader:
//   - A block whose first line is a comment naming a file (`// app.module.ts`, `// a/b.d.ts …`)
//     is that file of the README's example app; other blocks may import it (`./app.module.js`).
//     Two blocks may not name the same file.
//   - Every other block is a file of its own (readme-<line>.ts).
//   - Each block is checked as the root of a program of its own, with the files it imports:
//     an augmentation of `SessionTypes` in one block does not reach the others.
//   - Each is checked twice: in an ESM app ("type": "module") and in a CommonJS one.
//   - Blocks that are not TypeScript take another fence (sh, json, text); a fence with no
//     language at all is refused, so that nothing escapes the check by accident.
//
// The temporary project lives in the system's temp directory: its node_modules holds
// `nestjs-sessions` as a link to this repository (so its package.json `exports` and dist/ are
// what resolves, as in a user's app) and links to this repository's node_modules for the peers.
// The compiler is this repository's TypeScript (node_modules/typescript), through its API: one
// process, the parsed declaration files shared between the programs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from '../node_modules/typescript/lib/typescript.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const readme = path.resolve(args.find((a) => !a.startsWith('--')) ?? path.join(root, 'README.md'));

// Strict, decorators with their metadata, module nodenext: a NestJS app's settings.
const compilerOptions = {
  target: 'ES2023',
  lib: ['ES2023'],
  module: 'nodenext',
  moduleResolution: 'nodenext',
  types: ['node'],
  strict: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  skipLibCheck: false,
  noEmit: true,
  forceConsistentCasingInFileNames: true,
};

// ---- The blocks ---------------------------------------------------------------------------------

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/;
const NAMED = /^\/\/\s*([\w@][\w.@/-]*\.(?:d\.)?[cm]?ts)(?=\s|$)/;
const TS_LANGS = new Set(['ts', 'typescript']);

function readBlocks(text) {
  const lines = text.split('\n');
  const blocks = [];
  const problems = [];
  let heading = '(before any heading)';
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]);
    if (!open) {
      if (/^#{1,6}\s/.test(lines[i])) heading = lines[i].trim();
      continue;
    }
    const [, indent, marker, lang] = open;
    const body = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = FENCE.exec(lines[j]);
      if (close && close[2][0] === marker[0] && close[2].length >= marker.length && close[3] === '') break;
      body.push(indent && lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
    }
    const line = i + 1;
    if (j === lines.length) problems.push({ line, heading, message: 'a code fence that is never closed' });
    if (lang === '') problems.push({ line, heading, message: 'a code fence without a language: use ts (checked), or sh, json, text…' });
    if (TS_LANGS.has(lang.toLowerCase())) {
      const named = NAMED.exec(body[0] ?? '');
      const file = named ? path.posix.normalize(named[1]) : `readme-${line}.ts`;
      blocks.push({ line, heading, file, named: Boolean(named), firstLine: line + 1, source: body.join('\n') + '\n' });
    }
    i = j;
  }
  for (const block of blocks) {
    if (block.file.startsWith('../') || block.file.startsWith('/') || block.file.startsWith('node_modules/')) {
      problems.push({ line: block.line, heading: block.heading, message: `the block names ${block.file}: give a path inside the app` });
    }
    const first = blocks.find((b) => b.file === block.file);
    if (first !== block) problems.push({ line: block.line, heading: block.heading, message: `${block.file} is already the block at line ${first.line}` });
  }
  return { blocks, problems };
}

// ---- The temporary project ----------------------------------------------------------------------

function makeProject(blocks) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nestjs-sessions-readme-'));
  const modules = path.join(dir, 'node_modules');
  fs.mkdirSync(modules);
  for (const entry of fs.readdirSync(path.join(root, 'node_modules'))) {
    if (entry.startsWith('.') || entry === 'nestjs-sessions') continue;
    fs.symlinkSync(path.join(root, 'node_modules', entry), path.join(modules, entry));
  }
  fs.symlinkSync(root, path.join(modules, 'nestjs-sessions'));
  const apps = {};
  for (const [mode, type] of [['esm', 'module'], ['cjs', 'commonjs']]) {
    const app = path.join(dir, mode);
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: `readme-${mode}`, private: true, type }, null, 2) + '\n');
    // For a look by hand: `node_modules/typescript/bin/tsc -p <dir>/esm` checks all of them at once.
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['**/*.ts'] }, null, 2) + '\n');
    for (const block of blocks) {
      const file = path.join(app, block.file);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, block.source);
    }
    apps[mode] = app;
  }
  return { dir, apps };
}

// ---- Checking -----------------------------------------------------------------------------------

function createHost(options) {
  const host = ts.createCompilerHost(options, true);
  const cache = new Map();
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const format = typeof languageVersion === 'object' ? `${languageVersion.languageVersion}:${languageVersion.impliedNodeFormat}` : String(languageVersion);
    const key = `${format}|${fileName}`;
    if (!cache.has(key)) cache.set(key, getSourceFile(fileName, languageVersion, onError, shouldCreate));
    return cache.get(key);
  };
  return host;
}

function check(blocks, apps, rel) {
  const parsed = ts.convertCompilerOptionsFromJson(compilerOptions, root);
  if (parsed.errors.length) throw new Error(ts.formatDiagnostics(parsed.errors, formatHost));
  const host = createHost(parsed.options);
  // block -> message -> the modes it came up in (an error of both apps is printed once)
  const results = new Map(blocks.map((b) => [b, new Map()]));
  const general = new Map();
  const note = (map, message, mode) => map.set(message, [...(map.get(message) ?? []), mode]);
  for (const [mode, app] of Object.entries(apps)) {
    for (const block of blocks) {
      const fileName = path.join(app, block.file);
      const program = ts.createProgram({ rootNames: [fileName], options: parsed.options, host });
      const sourceFile = program.getSourceFile(fileName);
      for (const diagnostic of ts.getPreEmitDiagnostics(program, sourceFile)) {
        const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n      ');
        if (!diagnostic.file) note(general, `TS${diagnostic.code}: ${message}`, mode);
        if (diagnostic.file !== sourceFile) continue; // another block's, reported with it
        const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
        note(results.get(block), `${rel}:${block.firstLine + line}:${character + 1} TS${diagnostic.code}: ${message}`, mode);
      }
    }
  }
  const show = (map) => [...map].map(([message, modes]) => `${message} [${modes.join(', ')}]`);
  return { results: new Map([...results].map(([block, map]) => [block, show(map)])), general: show(general) };
}

const formatHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };

// ---- Main ---------------------------------------------------------------------------------------

const dts = path.join(root, 'dist', 'index.d.ts');
if (!fs.existsSync(dts)) {
  console.error('check-readme: dist/index.d.ts is missing; run `npm run -s build` first.');
  process.exit(2);
}
const newestSource = (function newest(dir) {
  let time = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) time = Math.max(time, newest(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) time = Math.max(time, fs.statSync(full).mtimeMs);
  }
  return time;
})(path.join(root, 'src'));
if (newestSource > fs.statSync(dts).mtimeMs) console.warn('check-readme: warning: src/ is newer than dist/; run `npm run -s build` to check what is built.');

const builtAt = fs.statSync(dts).mtimeMs;
const { blocks, problems } = readBlocks(fs.readFileSync(readme, 'utf8'));
const { dir, apps } = makeProject(blocks);
let failed = problems.length > 0;
try {
  const rel = path.relative(process.cwd(), readme) || readme;
  const { results, general } = check(blocks, apps, rel);
  const report = [
    ...problems.map((p) => ({ line: p.line, text: `${rel}:${p.line}  ${p.heading}\n  ERROR ${p.message}` })),
    ...blocks.map((block) => {
      const errors = results.get(block);
      const head = `${rel}:${block.line}  ${block.heading}  ${block.named ? block.file : '(a file of its own)'}  ${errors.length ? 'ERROR' : 'OK'}`;
      return { line: block.line, text: [head, ...errors.map((e) => `  ${e}`)].join('\n') };
    }),
  ];
  for (const { text } of report.sort((a, b) => a.line - b.line)) console.log(text);
  for (const message of general) console.log(`ERROR ${message}`);
  const bad = blocks.filter((b) => results.get(b).length).length;
  if (bad || general.length) failed = true;
  if (!fs.existsSync(dts) || fs.statSync(dts).mtimeMs !== builtAt) {
    console.log('\ndist/ changed while the blocks were checked (a build running at the same time?): run the check again.');
    failed = true;
  }
  console.log(
    `\n${blocks.length} TypeScript blocks, ${bad} failing${problems.length ? `, ${problems.length} other problem(s)` : ''}` +
      ` (TypeScript ${ts.version}; each block in an ESM and in a CommonJS app).`,
  );
} finally {
  if (keep) console.log(`the temporary project is kept in ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

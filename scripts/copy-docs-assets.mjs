// Copies the API reference's browser bundle (@scalar/api-reference, the single-file UMD
// build) into the web client's output as /docs/scalar.js, a static asset of this origin:
// the /docs page (src/routes/docs.ts) loads it from there, never from a CDN. Run after
// `vite build`, which empties dist/web.
// (The package's exports do not include this file, so it is read by its path.)
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('dist/web/docs', { recursive: true });
copyFileSync('node_modules/@scalar/api-reference/dist/browser/standalone.js', 'dist/web/docs/scalar.js');

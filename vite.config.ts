/**
 * Builds the web client (src/web) into dist/web, which the Worker serves as static assets.
 * JSX is Preact's automatic runtime, compiled by Vite's own transformer (no plugin).
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'src/web',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: '../../dist/web', emptyOutDir: true },
});

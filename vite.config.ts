/** Builds the web client (src/web) into dist/web, which the Worker serves as static assets. */
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'src/web',
  build: { outDir: '../../dist/web', emptyOutDir: true },
});

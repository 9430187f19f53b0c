// Raw text imports and import.meta.glob, which Vite resolves for the tests (docs, sources).
/// <reference types="vite/client" />

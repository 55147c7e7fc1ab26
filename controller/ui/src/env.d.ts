// Vite bundles imported CSS into the build's stylesheet; the import has no value.
declare module '*.css';

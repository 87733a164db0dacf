import { defineConfig } from "vite";

// JSX is compiled by Vite's built-in transformer (React's automatic runtime); the app is built, never served
// by Vite's dev server, so no React plugin (fast refresh) is needed.
export default defineConfig({
  root: import.meta.dirname,
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: true },
  oxc: { jsx: { runtime: "automatic", development: false } },
  // Always React's production build, whatever NODE_ENV the building process has (`npm test` sets "test").
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
});

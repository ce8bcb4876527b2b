// Stylesheets are imported for esbuild, which bundles them into assets/main.css.
declare module '*.css';

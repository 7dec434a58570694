// The two builds of frontend/: the host's (dist/server/render.js, which host.config.js
// requires) and the browser's (dist/static/frontend/client.js, a static file).
//     npm run build    both, once (the browser's minified)
//     npm run watch    both, again at every change
import {fileURLToPath} from 'node:url';
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const common = {
  absWorkingDir: fileURLToPath(new URL('..', import.meta.url)),
  bundle: true,
  jsx: 'automatic',
  logLevel: 'info',
};
const builds = [
  {
    ...common,
    entryPoints: ['frontend/server.jsx'],
    outfile: 'dist/server/render.js',
    platform: 'node',
    format: 'cjs',
    // The host requires react and react-dom from node_modules, as it does any package.
    packages: 'external',
  },
  {
    ...common,
    entryPoints: ['frontend/client.jsx'],
    outfile: 'dist/static/frontend/client.js',
    format: 'esm',
    // Minified, esbuild also builds React for production (process.env.NODE_ENV).
    minify: !watch,
    sourcemap: watch,
  },
];

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}

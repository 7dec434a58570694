// The functions Django calls: {% js_function "greet" name=user.first_name %} in a template
// (after {% load js_host %}), or Function('greet').call(name='Ada') in Python.
//
// The host loads this file once and keeps it in memory: require() what your functions need
// up here, not inside them, and its start-up cost (React's included) is paid once. Under the
// development manager (JS_HOST['USE_MANAGER']) the host restarts when this file, or one it
// requires, changes: `npm run watch` rebuilds dist/server/render.js as you edit frontend/.
let render;
try {
  // frontend/server.jsx, compiled for Node by `npm run build` (frontend/build.mjs).
  ({render} = require('./dist/server/render.js'));
} catch (error) {
  if (error.code !== 'MODULE_NOT_FOUND') throw error;
  throw new Error(`${__dirname}/dist/server/render.js is not built: run \`npm install && npm run build\` in ${__dirname}`);
}

module.exports = {
  functions: {
    // The HTML of a component of frontend/components.js, for templates/react_component.html,
    // which puts it in the page with the same props for the browser to hydrate.
    // renderToString escapes every string it inserts, so the HTML is safe to insert as is.
    async render_component({component, props}) {
      return render(component, props);
    },

    // A function takes the call's keyword arguments as one object and returns its answer:
    // a string comes back to Python as str, anything else as JSON text (call_json decodes it).
    // An error it throws is raised in Python as FunctionError, with this JS stack.
    async greet({name = 'World'}) {
      return `Hello, ${name}!`;
    },
  },
};

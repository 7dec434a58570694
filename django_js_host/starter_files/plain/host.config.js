// The functions Django calls: {% js_function "greet" name=user.first_name %} in a template
// (after {% load js_host %}), or Function('greet').call(name='Ada') in Python.
//
// The host loads this file once and keeps it in memory: require() what your functions need
// up here, not inside them, and its start-up cost is paid once. Packages come from this
// project's node_modules (`npm install markdown-it`). Under the development manager
// (JS_HOST['USE_MANAGER']) the host restarts when this file, or one it requires, changes.
module.exports = {
  functions: {
    // A function takes the call's keyword arguments as one object and returns its answer:
    // a string comes back to Python as str, anything else as JSON text (call_json decodes it).
    // An error it throws is raised in Python as FunctionError, with this JS stack.
    async greet({name = 'World'}) {
      return `Hello, ${name}!`;
    },
  },
};

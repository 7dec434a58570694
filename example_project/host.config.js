// The example site's functions. The host loads this file once and keeps it in memory.
module.exports = {
  functions: {
    greet(data, cb) {
      cb(null, `Hello, ${data.name}! (${this.name} ran in Node ${process.version})`);
    },
  },
};

'use strict';
// What config.js and config-module.js report a bad config file with.

// A problem with a value, as opposed to JS code that failed: no stack is worth showing.
class ConfigError extends Error {}
ConfigError.prototype.name = 'ConfigError';

function describeType(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  if (type === 'undefined') return 'undefined';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

module.exports = {ConfigError, describeType};

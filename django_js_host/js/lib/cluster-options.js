'use strict';
// The command-line flags of a multi-process host (--workers and the recycling limits),
// parsed apart from cluster.js so that reading a command line does not load node:cluster.

const os = require('node:os');

const CLUSTER_FLAGS = ['workers', 'max-requests', 'max-requests-jitter', 'max-memory'];

function parseWholeNumber(value, flag, min, alternative = '') {
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < min) {
    throw new Error(`${flag} must be a whole number from ${min} up${alternative}, got ${JSON.stringify(value)}`);
  }
  return number;
}

// os.availableParallelism() (Node >= 18.14) respects a container's CPU limit; os.cpus() not.
function availableCpus() {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length || 1;
}

// The cluster flags of a host command line, or null when none is given. Throws an Error
// saying what is wrong with a value (the CLI exits 2 with it).
function parseClusterOptions(values) {
  if (!CLUSTER_FLAGS.some((flag) => values[flag] !== undefined)) return null;
  const maxRequests = values['max-requests'] === undefined ? null : parseWholeNumber(values['max-requests'], '--max-requests', 1);
  const jitter = values['max-requests-jitter'];
  if (jitter !== undefined && maxRequests === null) throw new Error('--max-requests-jitter only goes with --max-requests');
  const maxMemory = values['max-memory'];
  if (maxMemory !== undefined && !(/^\d+(\.\d+)?$/.test(maxMemory) && Number(maxMemory) > 0)) {
    throw new Error(`--max-memory must be a number of megabytes above 0, got ${JSON.stringify(maxMemory)}`);
  }
  let workers = 1; // recycling needs a primary to start the replacement: limits imply one worker
  if (values.workers === 'auto') workers = availableCpus();
  else if (values.workers !== undefined) workers = parseWholeNumber(values.workers, '--workers', 1, ', or auto');
  return {
    workers,
    maxRequests,
    maxRequestsJitter: jitter === undefined ? 0 : parseWholeNumber(jitter, '--max-requests-jitter', 0),
    maxMemory: maxMemory === undefined ? null : Number(maxMemory),
  };
}

module.exports = {CLUSTER_FLAGS, parseClusterOptions};

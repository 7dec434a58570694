'use strict';
// Who a host answers. Its callers are servers (Python, a proxy); a browser must never get a
// function to run, neither from a page of another site (a form or fetch() posting to
// 127.0.0.1) nor through DNS rebinding (a page whose name now points at 127.0.0.1, whose
// requests carry that name in Host). So every request is checked, before anything else:
// 1. on TCP, the Host header must name this host: a loopback address, localhost, the
//    configured address or one of allowedHosts (port not compared)        -> 421
// 2. no Origin header (any value, `null` too), and Sec-Fetch-Site, if sent, is `none`:
//    browsers send these, servers do not                                   -> 403
// 3. the token, when the host has one, in X-JS-Host-Token                  -> 401
// 4. a POST body is application/json: the types an HTML form can send without a CORS
//    preflight (text/plain, urlencoded, multipart) are refused              -> 415
// On a Unix socket the file's permissions decide who connects, and a socket has no name to
// check, so 1. is skipped there; the others still apply. No CORS header is ever sent.
//
// The headers are read from req.rawHeaders in one pass: req.headers would build an object
// of every header on each call, on the hot path. Every occurrence of a header counts (a
// second Host or token must pass too), so no parser difference can smuggle one past.

const crypto = require('node:crypto');
const net = require('node:net');

const {JSON_TYPE, TOKEN_HEADER} = require('./protocol');

const TOKEN_HEADER_LOWER = TOKEN_HEADER.toLowerCase();
const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::']);
// What may follow the name in a Host header.
const PORT_SUFFIX = /^:\d{1,5}$/;
// How many accepted Host values are remembered, so that the usual one is not parsed again.
const ACCEPTED_HOSTS_KEPT = 16;
// How much of a refused header value goes into a message or the log.
const SHOWN_VALUE_LENGTH = 100;

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

const sha256 =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'buffer')
    : (text) => crypto.createHash('sha256').update(text).digest();

// An IPv6 address in one spelling (fd00:0::7 and FD00::7 are fd00::7), without brackets.
function canonicalIPv6(address) {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

// A name as Host values are compared: lowercased, an IPv6 address canonical.
function canonicalName(name) {
  return net.isIPv6(name) ? canonicalIPv6(name) : name.toLowerCase();
}

// The name in a Host header value, compared as canonicalName's, without its port or IPv6
// brackets; null if the value is not a host[:port] at all.
function hostName(value) {
  let name = value;
  let port = '';
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end === -1) return null;
    name = value.slice(1, end);
    port = value.slice(end + 1);
    if (!net.isIPv6(name)) return null;
    name = canonicalIPv6(name);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon !== -1) {
      name = value.slice(0, colon);
      port = value.slice(colon);
    }
  }
  if (port !== '' && !PORT_SUFFIX.test(port)) return null;
  return name.toLowerCase();
}

function isLoopbackName(name) {
  if (name === 'localhost') return true;
  const family = net.isIP(name);
  return family !== 0 && loopback.check(name, family === 6 ? 'ipv6' : 'ipv4');
}

function shown(value) {
  return JSON.stringify(value.length > SHOWN_VALUE_LENGTH ? `${value.slice(0, SHOWN_VALUE_LENGTH)}...` : value);
}

// True for `application/json`, with or without parameters (`; charset=utf-8`).
function isJsonType(value) {
  if (value === JSON_TYPE) return true;
  const semicolon = value.indexOf(';');
  return (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase() === JSON_TYPE;
}

// {statusCode, name, message, detail}: a refused request; `detail` is for the log line.
function refusal(statusCode, name, message, detail = '') {
  return {statusCode, name, message, detail};
}

// `config`: what config.js's loadConfig returns (socket, address, allowedHosts, token).
// Returns check(req): null when the request may go on, else the refusal to answer with.
function createGuard(config) {
  const checkHost = config.socket === null;
  const hostNames = new Set(config.allowedHosts.map(canonicalName));
  const address = canonicalName(config.address.startsWith('[') ? config.address.slice(1, -1) : config.address);
  if (!WILDCARD_ADDRESSES.has(address)) hostNames.add(address);
  const expectedToken = config.token === null ? null : sha256(config.token);
  const configFile = config.configFile;

  // Only accepted values are kept: a stranger cannot fill it with its own.
  const acceptedHosts = new Set();

  function isOwnName(value) {
    if (acceptedHosts.has(value)) return true;
    const name = hostName(value);
    if (name === null || !(isLoopbackName(name) || hostNames.has(name))) return false;
    if (acceptedHosts.size < ACCEPTED_HOSTS_KEPT) acceptedHosts.add(value);
    return true;
  }

  // Constant time: both sides hashed to 32 bytes, so neither the length nor a common prefix
  // of the token shows in how long the comparison takes.
  function isToken(value) {
    return crypto.timingSafeEqual(sha256(value), expectedToken);
  }

  function misdirected(value) {
    if (value === null) {
      return refusal(421, 'MisdirectedRequest', 'The request has no Host header; this host answers only requests that name it', 'no Host');
    }
    const name = hostName(value);
    const hint =
      name === null
        ? 'it is not a host name with an optional port'
        : `if this host should answer to ${JSON.stringify(name)}, add it to allowedHosts in ${configFile}`;
    return refusal(421, 'MisdirectedRequest', `The Host header ${shown(value)} does not name this host: ${hint}`, `Host ${shown(value)}`);
  }

  return function check(req) {
    const raw = req.rawHeaders;
    let host = null;
    let badHost = null;
    let browser = null;
    let contentType = null;
    let badContentType = null;
    let tokenSeen = false;
    let tokenWrong = false;
    for (let i = 0; i < raw.length; i += 2) {
      const field = raw[i];
      // Lengths first: only the headers of interest are lowercased.
      switch (field.length) {
        case 4:
          if (field.toLowerCase() === 'host') {
            host = raw[i + 1];
            if (checkHost && badHost === null && !isOwnName(host)) badHost = host;
          }
          break;
        case 6:
          if (field.toLowerCase() === 'origin') browser ??= `Origin ${shown(raw[i + 1])}`;
          break;
        case 12:
          if (field.toLowerCase() === 'content-type') {
            contentType = raw[i + 1];
            if (badContentType === null && !isJsonType(contentType)) badContentType = contentType;
          }
          break;
        case 14:
          if (field.toLowerCase() === 'sec-fetch-site' && raw[i + 1].toLowerCase() !== 'none') {
            browser ??= `Sec-Fetch-Site ${shown(raw[i + 1])}`;
          }
          break;
        case TOKEN_HEADER_LOWER.length:
          if (expectedToken !== null && field.toLowerCase() === TOKEN_HEADER_LOWER) {
            tokenSeen = true;
            if (!isToken(raw[i + 1])) tokenWrong = true;
          }
          break;
        default:
      }
    }
    if (checkHost && (host === null || badHost !== null)) return misdirected(badHost);
    if (browser !== null) {
      return refusal(
        403,
        'CrossSiteRequest',
        `Refused a request from a browser (it carries ${browser}): a JS host answers servers only, never web pages`,
        browser,
      );
    }
    if (expectedToken !== null && (!tokenSeen || tokenWrong)) {
      const what = tokenSeen ? `a wrong ${TOKEN_HEADER} header` : `no ${TOKEN_HEADER} header`;
      return refusal(401, 'Unauthorized', `The request has ${what}: this host answers only requests that carry its token`, what);
    }
    if (req.method === 'POST' && (contentType === null || badContentType !== null)) {
      const got = contentType === null ? 'none' : shown(badContentType);
      return refusal(
        415,
        'UnsupportedMediaType',
        `A POST body must be JSON, sent with Content-Type: ${JSON_TYPE}; got ${got}`,
        `Content-Type ${got}`,
      );
    }
    return null;
  };
}

module.exports = {createGuard, hostName, isLoopbackName};

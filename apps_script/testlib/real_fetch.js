'use strict';
/**
 * Make a world's UrlFetchApp really send its requests, synchronously like Apps Script's:
 * each fetch runs testlib/http_request.js in a child process and waits for it.
 */
const {execFileSync} = require('node:child_process');
const path = require('node:path');

const HELPER = path.join(__dirname, 'http_request.js');

function useRealHttp(world) {
  world.fetch.handler = (request) => {
    const headers = Object.assign({}, request.headers);
    if (request.contentType) headers['Content-Type'] = request.contentType;
    const out = execFileSync(process.execPath, [HELPER], {
      input: JSON.stringify({url: request.url, method: request.method, headers, body: request.payload,
        followRedirects: request.params.followRedirects}),
      timeout: 30000
    });
    const answer = JSON.parse(out.toString('utf8'));
    if (answer.error) return new Error('Exception: Address unavailable: ' + request.url + ' (' + answer.error + ')');
    return {code: answer.code, body: answer.body, headers: answer.headers};
  };
}

module.exports = {useRealHttp};

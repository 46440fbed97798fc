'use strict';
/**
 * One real HTTP request, for the synchronous UrlFetchApp of the end-to-end test: reads
 * {url, method, headers, body, followRedirects} as JSON on stdin, writes {code, headers, body}
 * as JSON on stdout (a connection failure: {error}).
 */
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  const request = JSON.parse(input);
  try {
    const response = await fetch(request.url, {
      method: request.method.toUpperCase(),
      headers: request.headers,
      body: request.body === undefined || request.method === 'get' ? undefined : request.body,
      redirect: request.followRedirects === false ? 'manual' : 'follow',
      signal: AbortSignal.timeout(20000)
    });
    const body = await response.text();
    process.stdout.write(JSON.stringify({code: response.status, headers: Object.fromEntries(response.headers), body}));
  } catch (err) {
    process.stdout.write(JSON.stringify({error: String(err && err.cause ? err.cause : err)}));
  }
});

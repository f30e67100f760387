#!/usr/bin/env python3
"""
http_bench.py - PutRecordBatch throughput against a running sluice.

  http_bench.py PORT STREAM [CONNS] [REQUESTS_PER_CONN]

Each of CONNS processes keeps one HTTP keep-alive connection and posts
REQUESTS_PER_CONN PutRecordBatch requests of 500 records of ~300 bytes,
built before the clock starts. Prints records/s for all of them together.
"""
import base64
import http.client
import json
import multiprocessing
import os
import sys
import time


def body(conn, req):
    recs = []
    for i in range(500):
        rec = b'{"id":"%d-%d-%d","event":"page_view","user":"' % (conn, req, i)
        rec += os.urandom(120).hex().encode()[:300 - len(rec) - 3] + b'"}\n'
        recs.append({"Data": base64.b64encode(rec).decode()})
    return json.dumps({"DeliveryStreamName": STREAM, "Records": recs}).encode()


def run(args):
    k, start, nreq = args
    bodies = [body(k, j) for j in range(nreq)]
    c = http.client.HTTPConnection("127.0.0.1", PORT)
    start.wait()
    failed = 0
    for b in bodies:
        c.request("POST", "/", b, {"Content-Type": "application/x-amz-json-1.1",
                                   "X-Amz-Target": "Firehose_20150804.PutRecordBatch"})
        r = c.getresponse()
        failed += json.loads(r.read())["FailedPutCount"]
    return failed


if __name__ == "__main__":
    PORT, STREAM = int(sys.argv[1]), sys.argv[2]
    conns = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    nreq = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    mgr = multiprocessing.Manager()
    start = mgr.Event()
    with multiprocessing.Pool(conns, initializer=globals().update,
                              initargs=({"PORT": PORT, "STREAM": STREAM},)) as pool:
        res = pool.map_async(run, [(k, start, nreq) for k in range(conns)])
        time.sleep(0.5 + conns * nreq * 0.004)     # let every process build its bodies
        t0 = time.monotonic()
        start.set()
        failed = sum(res.get())
        dt = time.monotonic() - t0
    n = conns * nreq * 500
    print("http: PutRecordBatch %d records (500 x ~300 B per request) over %d connections "
          "in %.2f s: %.0f records/s, %d failed (throttled)" % (n, conns, dt, n / dt, failed))

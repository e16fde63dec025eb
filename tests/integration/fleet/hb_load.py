#!/usr/bin/env python3
"""
hb_load.py - measures `edgeflow manager` under heartbeat load (a measurement, not a ctest):
N devices (default 10,000) are inserted into a fresh SQLite store, then one MQTT client
publishes one heartbeat per device every 10 s (N/10 messages a second, spread evenly) for
SECONDS; prints the manager's CPU (utime+stime from /proc) as a share of one core and its RSS.

usage: hb_load.py EDGEFLOW [N] [SECONDS]
"""
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'mqtt'))
from fleetlib import Broker, Manager, Mqtt
N = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
binary = sys.argv[1]
d = tempfile.mkdtemp(prefix='hbload-')
b = Broker(d, 'broker')
m = Manager(binary, d, b.port, extra=['--log-level', 'info'])
m.post('/groups', {'name': 'g'}, expect=201)
m.stop()
db = sqlite3.connect(os.path.join(m.dir, 'fleet.db'))
db.executemany("insert into devices (id,name,grp,labels,env,public_key,enrolled) values (?,?,?,?,?,?,?)",
               [("d%05d" % i, "d%05d" % i, "g", "{}", "{}", "pk%d" % i, 1) for i in range(N)])
db.commit(); db.close()

m.start()
time.sleep(3)
pid = m.proc.pid
def cpu():
    f = open('/proc/%d/stat' % pid).read().split(')')[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
def rss():
    for l in open('/proc/%d/status' % pid):
        if l.startswith('VmRSS'): return l.split()[1]
pub = Mqtt(b.port, 'loadgen', lambda *a: None)
period = 10.0
dur = float(sys.argv[3]) if len(sys.argv) > 3 else 30
t0 = time.time(); c0 = cpu(); sent = 0
while time.time() - t0 < dur:
    start = time.time()
    for i in range(N):
        pub.publish("edgeflow/v1/d/d%05d/hb" % i, json.dumps({"type":"hb","device":"d%05d" % i,"ts":int(time.time()*1000),"uptime":5,"snapshot":None,"health":"none","cpu":1.0,"rss":4000000,"msgs":sent,"errors":0}))
        sent += 1
        # spread over the period
        target = start + period * (i + 1) / N
        dt = target - time.time()
        if dt > 0.002: time.sleep(dt)
el = time.time() - t0; c1 = cpu()
print("devices %d, hb sent %d in %.1f s (%.0f/s); manager cpu %.2f s = %.1f%% of one core; rss %s kB" % (N, sent, el, sent/el, c1-c0, 100*(c1-c0)/el, rss()))
devs = m.get('/devices')
print("devices with heartbeat in the store/live table:", sum(1 for x in devs if x['rss'] == 4000000))
pub.disconnect(); m.stop(); b.stop()
shutil.rmtree(d, ignore_errors=True)

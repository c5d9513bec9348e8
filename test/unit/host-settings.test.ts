import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  counterDelta, inRange, parseCounterTable, parsePortRange, parseReservedPorts, readCounters, readSettings,
  sysctlNumber, sysctlPath, usablePorts,
} from '../../src/host/settings';
import { ownNetns as netnsInode } from '../../src/host/netns';

const NETSTAT = `TcpExt: SyncookiesSent TW ListenOverflows ListenDrops TCPTimeWaitOverflow
TcpExt: 0 7150849 3 5 12
IpExt: InNoRoutes InOctets
IpExt: 0 123456789012
`;

const SNMP = `Ip: Forwarding DefaultTTL
Ip: 1 64
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens CurrEstab
Tcp: 1 200 120000 -1 11598627 11598218 4
`;

test('parseCounterTable pairs each header line with its values, negatives and big numbers included', () => {
  assert.deepEqual(parseCounterTable(NETSTAT), {
    'TcpExt.SyncookiesSent': 0, 'TcpExt.TW': 7150849, 'TcpExt.ListenOverflows': 3, 'TcpExt.ListenDrops': 5,
    'TcpExt.TCPTimeWaitOverflow': 12, 'IpExt.InNoRoutes': 0, 'IpExt.InOctets': 123456789012,
  });
  const snmp = parseCounterTable(SNMP);
  assert.equal(snmp['Tcp.MaxConn'], -1);
  assert.equal(snmp['Tcp.ActiveOpens'], 11598627);
  assert.equal(snmp['Ip.DefaultTTL'], 64);
});

test('parseCounterTable refuses a values line from another group', () => {
  assert.throws(() => parseCounterTable('TcpExt: A B\nIpExt: 1 2\n'), /header "TcpExt:" is followed by "IpExt:"/);
});

test('counterDelta: how far a counter moved; 0 where it is missing', () => {
  assert.equal(counterDelta({ 'TcpExt.ListenOverflows': 3 }, { 'TcpExt.ListenOverflows': 10 }, 'TcpExt.ListenOverflows'), 7);
  assert.equal(counterDelta({}, {}, 'TcpExt.Nope'), 0);
});

test('port range, reserved ports, and the ports connect() may use', () => {
  assert.deepEqual(parsePortRange('32768\t60999\n'), { low: 32768, high: 60999 });
  assert.throws(() => parsePortRange('32768'), /ip_local_port_range/);
  assert.deepEqual(parseReservedPorts('\n'), []);
  assert.deepEqual(parseReservedPorts('8080,40000-40009\n'), [{ low: 8080, high: 8080 }, { low: 40000, high: 40009 }]);
  assert.throws(() => parseReservedPorts('80-x'), /ip_local_reserved_ports/);
  const range = { low: 32768, high: 60999 };
  assert.equal(usablePorts(range, []), 28232);
  // 8080 lies outside the range; 10 of 40000-40009 and 1 at the top edge lie inside.
  assert.equal(usablePorts(range, [{ low: 8080, high: 8080 }, { low: 40000, high: 40009 }, { low: 60999, high: 61010 }]), 28221);
  assert.ok(inRange(32768, range) && inRange(60999, range) && !inRange(61000, range));
});

test('readSettings reads each sysctl from /proc/sys, null where the kernel has none', () => {
  const files: Record<string, string> = {
    [sysctlPath('net.ipv4.ip_local_port_range')]: '40000\t40999\n',
    [sysctlPath('net.ipv4.ip_local_reserved_ports')]: '40500\n',
    [sysctlPath('net.ipv4.tcp_tw_reuse')]: '2\n',
    [sysctlPath('net.core.somaxconn')]: '4096\n',
  };
  const settings = readSettings((path) => files[path] ?? null);
  assert.equal(sysctlPath('net.core.somaxconn'), '/proc/sys/net/core/somaxconn');
  assert.deepEqual(settings.ephemeral, { low: 40000, high: 40999 });
  assert.deepEqual(settings.reserved, [{ low: 40500, high: 40500 }]);
  assert.equal(settings.sysctls['net.ipv4.tcp_tw_reuse'], '2');
  assert.equal(settings.sysctls['net.ipv4.tcp_tw_recycle'], null);
  assert.equal(sysctlNumber(settings, 'net.core.somaxconn'), 4096);
  assert.equal(sysctlNumber(settings, 'net.ipv4.ip_local_port_range'), null, 'not a single number');
  assert.throws(() => readSettings(() => null), /ip_local_port_range/);
});

test('readCounters merges /proc/net/netstat and /proc/net/snmp', () => {
  const counters = readCounters((path) => ({ '/proc/net/netstat': NETSTAT, '/proc/net/snmp': SNMP })[path] ?? null);
  assert.equal(counters['TcpExt.ListenDrops'], 5);
  assert.equal(counters['Tcp.CurrEstab'], 4);
  assert.throws(() => readCounters(() => null), /\/proc\/net\/netstat/);
});

test('netnsInode reads net:[inode] from /proc/self/ns/net', () => {
  assert.equal(netnsInode(() => 'net:[4026531840]'), 4026531840);
  assert.equal(netnsInode(() => { throw new Error('EACCES'); }), null);
});

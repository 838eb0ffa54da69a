// The Docker runtime's pure parts: whether a stop signal reaches the container, and when a listed container is inspected again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signalDropped, signalNumber, summaryKey } from '../../agent/runtime/docker/index.js';

const SIGTERM = 15;
const SIGINT = 2;
const TERM_BIT = (1n << 14n).toString(16).padStart(16, '0');
const NONE = '0000000000000000';
/** SIGCHLD only: what busybox httpd catches. */
const CHLD = (1n << 16n).toString(16).padStart(16, '0');

function status(fields: { nspid?: string; ign?: string; cgt?: string }): string {
  return [
    'Name:\thttpd',
    'State:\tS (sleeping)',
    'Tgid:\t4242',
    'Pid:\t4242',
    ...(fields.nspid !== undefined ? [`NSpid:\t${fields.nspid}`] : []),
    'SigQ:\t0/94546',
    'SigPnd:\t0000000000000000',
    'ShdPnd:\t0000000000000000',
    'SigBlk:\t0000000000000000',
    `SigIgn:\t${fields.ign ?? NONE}`,
    `SigCgt:\t${fields.cgt ?? NONE}`,
    'CapInh:\t0000000000000000',
  ].join('\n');
}

test('the init of a PID namespace without a handler drops the signal', () => {
  assert.equal(signalDropped(status({ nspid: '4242\t1', cgt: CHLD }), SIGTERM), true);
  assert.equal(signalDropped(status({ nspid: '4242\t17\t1', cgt: CHLD }), SIGTERM), true);
});

test('a handler, or a process that is not a namespace init, receives it', () => {
  assert.equal(signalDropped(status({ nspid: '4242\t1', cgt: TERM_BIT }), SIGTERM), false);
  // Not PID 1 inside (pid: host, or a child): the default action applies, it dies.
  assert.equal(signalDropped(status({ nspid: '4242\t7' }), SIGTERM), false);
  assert.equal(signalDropped(status({ nspid: '4242' }), SIGTERM), false);
  // A handler for SIGTERM says nothing about a STOPSIGNAL of SIGINT.
  assert.equal(signalDropped(status({ nspid: '4242\t1', cgt: TERM_BIT }), SIGINT), true);
});

test('an ignored signal is dropped by any process', () => {
  assert.equal(signalDropped(status({ nspid: '4242\t7', ign: TERM_BIT }), SIGTERM), true);
});

test('what cannot be read counts as received', () => {
  assert.equal(signalDropped(status({ cgt: CHLD }), SIGTERM), false, 'no NSpid line');
  assert.equal(signalDropped('', SIGTERM), false);
  assert.equal(signalDropped(status({ nspid: '4242\t1', cgt: 'zz' }), SIGTERM), false);
});

test('stop signals by name or number', () => {
  assert.equal(signalNumber('SIGTERM'), 15);
  assert.equal(signalNumber('term'), 15);
  assert.equal(signalNumber('SIGQUIT'), 3);
  assert.equal(signalNumber('10'), 10);
  assert.equal(signalNumber('SIGNOPE'), null);
});

test('a listed container is inspected again only when its state, exit code or health change', () => {
  const key = (State: string, Status: string): string => summaryKey({ State, Status });
  assert.equal(key('running', 'Up 5 seconds'), key('running', 'Up About a minute'));
  assert.equal(key('running', 'Up 5 seconds (healthy)'), key('running', 'Up 2 hours (healthy)'));
  assert.notEqual(
    key('running', 'Up 5 seconds (healthy)'),
    key('running', 'Up 9 seconds (unhealthy)'),
  );
  assert.notEqual(key('running', 'Up 1 second (health: starting)'), key('running', 'Up 3 seconds'));
  assert.notEqual(key('running', 'Up 5 seconds'), key('exited', 'Exited (0) 1 second ago'));
  assert.notEqual(
    key('exited', 'Exited (0) 1 second ago'),
    key('exited', 'Exited (137) 1 second ago'),
  );
  assert.equal(key('exited', 'Exited (1) 1 second ago'), key('exited', 'Exited (1) 3 days ago'));
});

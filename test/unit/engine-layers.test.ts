// Counting the leading layers an engine already has: only a common prefix counts, whichever image gives it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedLeadingLayers } from '../../agent/images/engine-layers.js';

const [a, b, c, d] = ['sha256:a', 'sha256:b', 'sha256:c', 'sha256:d'];

test('the longest common prefix with any image', () => {
  const ours = [a, b, c];
  assert.equal(sharedLeadingLayers(ours, []), 0);
  assert.equal(sharedLeadingLayers(ours, [[a]]), 1);
  assert.equal(sharedLeadingLayers(ours, [[a], [a, b, d], [d]]), 2);
  assert.equal(sharedLeadingLayers(ours, [[a, b, c, d]]), 3, 'a taller image holds all ours');
  assert.equal(sharedLeadingLayers(ours, [[a, b, c]]), 3);
});

test('a matching layer over a different base does not count: chain IDs include the parents', () => {
  assert.equal(
    sharedLeadingLayers(
      [a, b, c],
      [
        [d, b, c],
        [b, c],
      ],
    ),
    0,
  );
  assert.equal(sharedLeadingLayers([a, b, c], [[a, d, c]]), 1);
});

test('an image without layers, or none asked for', () => {
  assert.equal(sharedLeadingLayers([], [[a, b]]), 0);
  assert.equal(sharedLeadingLayers([a], [[]]), 0);
});

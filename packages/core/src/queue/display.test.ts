import 'reflect-metadata';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { lineDisplay, liveDisplay, type QueueStatus } from './display.ts';

class Terminal extends Writable {
  text = '';
  isTTY = true;
  columns = 160;
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

const status: QueueStatus = { groups: 4, groupsDone: 1, groupsRunning: 2, groupsWaiting: 1, cellsDone: 9, cellsTotal: 16, workers: ['a:12', 'b:34'], eta: 40 };
const view = { label: 'seed 2 · gaussian', worker: 'b:34', done: 1, total: 4, step: 'seed 2 · gaussian · gd @ 5%' };

describe('the coordinator display', () => {
  it('prints a line per cell and step, and the status when the counts change', () => {
    const sink = new Terminal();
    const display = lineDisplay(sink, false);
    display.cell('j', view);
    display.step('j', { ...view, step: 'seed 2 · gaussian · gd @ 5% · epoch 1/2' });
    display.status(status);
    display.status({ ...status, eta: 35 }); // same counts: no line
    display.status({ ...status, groupsDone: 2, groupsRunning: 1, workers: ['b:34'], eta: 20 });
    expect(sink.text).toBe(
      '[b:34] [cell 2/4] seed 2 · gaussian · gd @ 5%\n' +
        '[b:34]   seed 2 · gaussian · gd @ 5% · epoch 1/2\n' +
        'groups: 1 of 4 done, 2 running (a:12, b:34), 1 waiting · cells 9/16 · ETA 0:40\n' +
        'groups: 2 of 4 done, 1 running (b:34), 1 waiting · cells 9/16 · ETA 0:20\n',
    );
  });

  it('draws a bar per group being computed, named by its worker, and one for the run', () => {
    const terminal = new Terminal();
    const display = liveDisplay(terminal);
    display.cell('j', view);
    display.status(status);
    display.log('warning: something');
    display.stop();
    const text = terminal.text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(text).toMatch(/all \S+ 9\/16 cells · groups: 1 of 4 done, 2 running \(a:12, b:34\), 1 waiting · ETA 0:40/);
    expect(text).toMatch(/b:34 seed 2 · gaussian \S+ 1\/4 cells · seed 2 · gaussian · gd @ 5%/);
    expect(text).toContain('warning: something');
  });
});

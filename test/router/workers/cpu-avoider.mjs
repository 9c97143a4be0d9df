// An endpoint thread that keeps off some CPUs (EndpointPort avoidCpus), for the shard-placement
// test: reports the CPUs the kernel lets this thread run on with the port open and after
// close() (which gives them back), and what the port says.
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { EndpointPort } from '../../../dist/src/endpoint/port.js';

const allowedNow = () => /^Cpus_allowed_list:\s+(.*)$/m.exec(readFileSync('/proc/thread-self/status', 'utf8'))[1];
const { link, module, avoidCpus } = workerData;
const before = allowedNow();
const port = new EndpointPort(link, { spinBeforeSleep: 0, avoidCpus }, module);
const allowed = allowedNow();
port.close();
parentPort.postMessage({ before, allowed, afterClose: allowedNow(), avoided: port.avoidedCpus });

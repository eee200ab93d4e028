import { DeviceError, describeError } from './errors.js';
import { ERROR_MARKER, RESULT_MARKER, type Measurement } from './types.js';

/**
 * Reads the node payload's stdout: returns its Measurement, or throws its failure as one exit-2 sentence
 * naming the model and `where` ("this machine", "ssh://pi@board").
 */
export function readPayloadOutput(stdout: string, modelLabel: string, where: string): Measurement | undefined {
  for (const line of stdout.split('\n')) {
    if (line.startsWith(RESULT_MARKER)) return JSON.parse(line.slice(RESULT_MARKER.length)) as Measurement;
    if (line.startsWith(ERROR_MARKER)) {
      const { stage, message } = JSON.parse(line.slice(ERROR_MARKER.length)) as { stage: string; message: string };
      throw payloadFailure(stage, message, modelLabel, where);
    }
  }
  return undefined;
}

export function payloadFailure(stage: string, message: string, modelLabel: string, where: string): Error {
  const detail = describeError(message);
  switch (stage) {
    case 'load':
      return new DeviceError(`onnxruntime on ${where} could not load the model ${modelLabel}: ${detail}.`);
    case 'inputs':
      return new DeviceError(`${detail}.`);
    case 'runtime':
      return new DeviceError(`On ${where}, ${detail}; install onnxruntime-node there or use --remote-runtime auto to upload it.`);
    case 'run':
      return new DeviceError(`The model ${modelLabel} failed during a run on ${where}: ${detail}.`);
    default:
      return new Error(`The bench payload on ${where} failed: ${message}`);
  }
}

// Camera and microphone capture for the facilitator page: constraints, device lists, errors.

/** @typedef {'camera' | 'microphone'} CaptureSource */
/** @typedef {'denied' | 'notFound' | 'busy' | 'failed'} MediaErrorKind */

const STORAGE_KEY = { camera: 'lectern.camera', microphone: 'lectern.microphone' };
const DEVICE_KIND = { camera: 'videoinput', microphone: 'audioinput' };

/**
 * Classifies a getUserMedia / getDisplayMedia failure.
 * @param {unknown} err
 * @returns {MediaErrorKind}
 */
export function mediaErrorKind(err) {
  const name = err && typeof err === 'object' && 'name' in err ? String(err.name) : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return 'denied';
    case 'NotFoundError':
    case 'OverconstrainedError':
    case 'DevicesNotFoundError':
      return 'notFound';
    case 'NotReadableError':
    case 'AbortError':
    case 'TrackStartError':
      return 'busy';
    default:
      return 'failed';
  }
}

/**
 * Captures one track of a source.
 * @param {CaptureSource} source
 * @param {MediaTrackConstraints} constraints
 * @returns {Promise<MediaStreamTrack>}
 */
export async function getTrack(source, constraints) {
  const stream = await navigator.mediaDevices.getUserMedia(source === 'camera' ? { video: constraints } : { audio: constraints });
  const track = stream.getTracks()[0];
  if (!track) throw new DOMException('no track', 'NotFoundError');
  return track;
}

/** @param {string} key */
function load(key) {
  try {
    return localStorage.getItem(key) ?? '';
  } catch {
    return '';
  }
}

/** @param {string} key @param {string} value */
function save(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch { /* private mode: not remembered */ }
}

/**
 * The camera and microphone `<select>`s: filled from enumerateDevices (labels appear once
 * permission is granted), kept current on `devicechange`, and remembered across visits.
 */
export class DeviceLists {
  /**
   * @param {Record<CaptureSource, HTMLSelectElement>} selects
   * @param {{none: string, camera: string, microphone: string}} strings  `{n}` in the unnamed labels
   * @param {(source: CaptureSource, deviceId: string) => void} onChange
   */
  constructor(selects, strings, onChange) {
    this.selects = selects;
    this.strings = strings;
    /** @type {Record<CaptureSource, string>} */
    this.chosen = { camera: load(STORAGE_KEY.camera), microphone: load(STORAGE_KEY.microphone) };
    /** @type {{camera: MediaStreamTrack | null, microphone: MediaStreamTrack | null}} */
    this.current = { camera: null, microphone: null };
    this.enabled = true;
    for (const source of /** @type {CaptureSource[]} */ (['camera', 'microphone'])) {
      selects[source].addEventListener('change', () => {
        const deviceId = selects[source].value;
        if (!deviceId) return;
        this.chosen[source] = deviceId;
        save(STORAGE_KEY[source], deviceId);
        onChange(source, deviceId);
      });
    }
    navigator.mediaDevices?.addEventListener?.('devicechange', () => this.refresh(this.current));
  }

  /**
   * Constraints for a source; `deviceId` is exact when given, otherwise the remembered device is
   * preferred but not required.
   * @param {CaptureSource} source
   * @param {string} [deviceId]
   * @returns {MediaTrackConstraints}
   */
  constraints(source, deviceId) {
    /** @type {MediaTrackConstraints} */
    const base = source === 'camera'
      ? { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } }
      : { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (deviceId) return { ...base, deviceId: { exact: deviceId } };
    if (this.chosen[source]) return { ...base, deviceId: { ideal: this.chosen[source] } };
    return base;
  }

  /** @param {boolean} enabled */
  setEnabled(enabled) {
    this.enabled = enabled;
    for (const select of Object.values(this.selects)) select.disabled = !enabled || select.dataset.empty === 'true';
  }

  /**
   * Re-reads the device lists and selects the devices in use.
   * @param {{camera: MediaStreamTrack | null, microphone: MediaStreamTrack | null}} current
   */
  async refresh(current) {
    this.current = { camera: current.camera, microphone: current.microphone };
    if (!navigator.mediaDevices?.enumerateDevices) return;
    let list;
    try {
      list = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    for (const source of /** @type {CaptureSource[]} */ (['camera', 'microphone'])) {
      const found = list.filter((d) => d.kind === DEVICE_KIND[source] && d.deviceId);
      const select = this.selects[source];
      const options = found.map((device, i) => {
        const option = document.createElement('option');
        option.value = device.deviceId;
        option.textContent = device.label || this.strings[source].replace('{n}', String(i + 1));
        return option;
      });
      if (!options.length) {
        const option = document.createElement('option');
        option.value = '';
        option.textContent = this.strings.none;
        options.push(option);
      }
      select.replaceChildren(...options);
      select.dataset.empty = String(!found.length);
      const track = this.current[source];
      const inUse = track && track.readyState === 'live' ? track.getSettings().deviceId : undefined;
      if (inUse && found.some((d) => d.deviceId === inUse)) select.value = inUse;
      select.disabled = !this.enabled || !found.length;
    }
  }
}

/**
 * The safety-number screen of an end-to-end encrypted chat: for each device of each other
 * member, the 60-digit number this device shares with it (12 groups of 5, as Signal shows
 * them), to compare in person or on a call, and a "Mark as verified" control (a verified
 * device's key change is then never accepted silently, nor a new device of that person:
 * it is listed with "Accept this device"). Identity keys are per device here, so each
 * device has its own number. No QR code: no QR library is part of the app.
 */
import { useEffect, useState } from 'preact/hooks';
import { devicesOf, isVerified } from '../lib/e2ee.js';
import { digitGroups } from '../lib/key-notices.js';
import { errorText } from '../lib/errors.js';
import { client } from '../lib/session.js';
import { useUserName } from '../lib/users.js';
import { ErrorNote } from './Form.js';
import { useModal } from './GroupDialog.js';

export function SafetyNumbersDialog(props: { memberIds: readonly string[]; onClose: () => void }) {
  const ref = useModal(props.onClose);
  const me = client.user?.id;
  const others = props.memberIds.filter((id) => id !== me);
  return (
    <dialog ref={ref} class="dialog safety" aria-labelledby="safety-title">
      <h2 id="safety-title">Safety numbers</h2>
      <p class="muted">
        Messages here are end-to-end encrypted. To be sure no one is in between, compare these numbers with each person, in person or on a call: they
        see the same numbers for your device.
      </p>
      {others.length === 0 ? <p class="muted">No one else is in this chat.</p> : others.map((id) => <MemberDevices key={id} userId={id} />)}
      <div class="dialog-actions">
        <button type="button" onClick={() => ref.current?.close()}>
          Close
        </button>
      </div>
    </dialog>
  );
}

interface DeviceRow {
  deviceId: string;
  /** The 60 digits, or null when this device has no session with it yet (nothing exchanged). */
  digits: string | null;
  verified: boolean;
  /** A new device of someone this device verified: sends wait until it is accepted. */
  awaitsAcceptance: boolean;
}

function MemberDevices(props: { userId: string }) {
  const name = useUserName(props.userId);
  const [rows, setRows] = useState<DeviceRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = async () => {
    try {
      const list = await devicesOf(props.userId);
      const read = await Promise.all(
        list.devices.map(async (d): Promise<DeviceRow> => {
          const digits = await client.safetyNumber(props.userId, d.deviceId).then(
            (n) => n.displayable,
            () => null,
          );
          const verified = digits !== null && (await isVerified(props.userId, d.deviceId));
          return { deviceId: d.deviceId, digits, verified, awaitsAcceptance: await client.awaitsAcceptance(props.userId, d.deviceId) };
        }),
      );
      setRows(read);
      setError(null);
    } catch (err) {
      setError(errorText(err));
    }
  };
  useEffect(() => void load(), [props.userId]);

  const toggle = async (row: DeviceRow) => {
    try {
      await client.setVerified(props.userId, row.deviceId, !row.verified);
      await load();
    } catch (err) {
      setError(errorText(err));
    }
  };

  const accept = async (row: DeviceRow) => {
    try {
      await client.acceptDevice(props.userId, row.deviceId);
      await load();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const headingId = `safety-${props.userId}`;
  return (
    <section class="safety-member" aria-labelledby={headingId}>
      <h3 id={headingId}>{name}</h3>
      <ErrorNote error={error} />
      {rows === null && !error && <p class="muted">Loading…</p>}
      {rows?.length === 0 && <p class="muted">{name} has no device with encryption keys yet.</p>}
      <ul class="safety-devices">
        {rows?.map((row, i) => (
          <li key={row.deviceId} data-device={row.deviceId}>
            <p class="safety-device">
              Device {i + 1} of {rows.length} <span class="muted">· {row.deviceId.slice(0, 8)}</span>
              {row.verified && <span class="verified"> · Verified</span>}
            </p>
            {row.digits ? (
              <>
                <p class="safety-digits" data-testid="safety-digits" aria-label={`Safety number ${digitGroups(row.digits).join(' ')}`}>
                  {digitGroups(row.digits).map((group, g) => (
                    <span key={g}>{group}</span>
                  ))}
                </p>
                <label class="check">
                  <input type="checkbox" checked={row.verified} onChange={() => void toggle(row)} />
                  Mark as verified
                </label>
              </>
            ) : row.awaitsAcceptance ? (
              <>
                <p class="muted">A new device of {name}'s, not verified: messages to {name} wait until you accept it.</p>
                <button type="button" onClick={() => void accept(row)}>
                  Accept this device
                </button>
              </>
            ) : (
              <p class="muted">No message exchanged with this device yet: its safety number shows once one is.</p>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * In-memory stores for @signalapp/libsignal-client (test-only: the independent reference
 * implementation the interop tests talk to). Never imported from src/.
 */
import * as S from '@signalapp/libsignal-client';

const key = (a: S.ProtocolAddress) => `${a.name()}.${a.deviceId()}`;

export class LibsignalStores {
  readonly sessions = new Map<string, Uint8Array<ArrayBuffer>>();
  readonly identities = new Map<string, S.PublicKey>();
  readonly preKeys = new Map<number, S.PreKeyRecord>();
  readonly signedPreKeys = new Map<number, S.SignedPreKeyRecord>();
  readonly kyberPreKeys = new Map<number, S.KyberPreKeyRecord>();
  readonly senderKeys = new Map<string, S.SenderKeyRecord>();

  constructor(
    readonly identity: S.IdentityKeyPair,
    readonly registrationId: number,
  ) {}

  readonly session: S.SessionStore = Object.assign(Object.create(S.SessionStore.prototype) as S.SessionStore, {
    saveSession: async (a: S.ProtocolAddress, r: S.SessionRecord) => void this.sessions.set(key(a), r.serialize()),
    getSession: async (a: S.ProtocolAddress) => {
      const s = this.sessions.get(key(a));
      return s ? S.SessionRecord.deserialize(s) : null;
    },
    getExistingSessions: async (as: S.ProtocolAddress[]) => as.map((a) => S.SessionRecord.deserialize(this.sessions.get(key(a))!)),
  });

  readonly identityStore: S.IdentityKeyStore = Object.assign(Object.create(S.IdentityKeyStore.prototype) as S.IdentityKeyStore, {
    getIdentityKey: async () => this.identity.privateKey,
    getLocalRegistrationId: async () => this.registrationId,
    saveIdentity: async (a: S.ProtocolAddress, k: S.PublicKey) => {
      const old = this.identities.get(key(a));
      this.identities.set(key(a), k);
      return old && !old.equals(k) ? S.IdentityChange.ReplacedExisting : S.IdentityChange.NewOrUnchanged;
    },
    isTrustedIdentity: async (a: S.ProtocolAddress, k: S.PublicKey) => {
      const old = this.identities.get(key(a));
      return !old || old.equals(k);
    },
    getIdentity: async (a: S.ProtocolAddress) => this.identities.get(key(a)) ?? null,
  });

  readonly preKeyStore: S.PreKeyStore = Object.assign(Object.create(S.PreKeyStore.prototype) as S.PreKeyStore, {
    savePreKey: async (id: number, r: S.PreKeyRecord) => void this.preKeys.set(id, r),
    getPreKey: async (id: number) => this.preKeys.get(id)!,
    removePreKey: async (id: number) => void this.preKeys.delete(id),
  });

  readonly signedPreKeyStore: S.SignedPreKeyStore = Object.assign(Object.create(S.SignedPreKeyStore.prototype) as S.SignedPreKeyStore, {
    saveSignedPreKey: async (id: number, r: S.SignedPreKeyRecord) => void this.signedPreKeys.set(id, r),
    getSignedPreKey: async (id: number) => this.signedPreKeys.get(id)!,
  });

  readonly kyberPreKeyStore: S.KyberPreKeyStore = Object.assign(Object.create(S.KyberPreKeyStore.prototype) as S.KyberPreKeyStore, {
    saveKyberPreKey: async (id: number, r: S.KyberPreKeyRecord) => void this.kyberPreKeys.set(id, r),
    getKyberPreKey: async (id: number) => this.kyberPreKeys.get(id)!,
    markKyberPreKeyUsed: async () => undefined,
  });

  readonly senderKeyStore: S.SenderKeyStore = Object.assign(Object.create(S.SenderKeyStore.prototype) as S.SenderKeyStore, {
    saveSenderKey: async (a: S.ProtocolAddress, id: string, r: S.SenderKeyRecord) => void this.senderKeys.set(`${key(a)}/${id}`, r),
    getSenderKey: async (a: S.ProtocolAddress, id: string) => this.senderKeys.get(`${key(a)}/${id}`) ?? null,
  });

  /** Generates and stores one prekey of each kind; returns the bundle libsignal would publish. */
  makeBundle(deviceId: number): S.PreKeyBundle {
    const signed = S.PrivateKey.generate();
    const signedSig = this.identity.privateKey.sign(signed.getPublicKey().serialize());
    this.signedPreKeys.set(7, S.SignedPreKeyRecord.new(7, Date.now(), signed.getPublicKey(), signed, signedSig));
    const kyber = S.KEMKeyPair.generate();
    const kyberSig = this.identity.privateKey.sign(kyber.getPublicKey().serialize());
    this.kyberPreKeys.set(9, S.KyberPreKeyRecord.new(9, Date.now(), kyber, kyberSig));
    const one = S.PrivateKey.generate();
    this.preKeys.set(11, S.PreKeyRecord.new(11, one.getPublicKey(), one));
    return S.PreKeyBundle.new(this.registrationId, deviceId, 11, one.getPublicKey(), 7, signed.getPublicKey(), signedSig, this.identity.publicKey, 9, kyber.getPublicKey(), kyberSig);
  }
}

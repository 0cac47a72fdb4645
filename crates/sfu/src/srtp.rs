//! The SFU's own SRTP egress: forwarded media is protected here, in place, in a buffer the
//! caller reuses, instead of going through the `rtc` connection's write pipeline (interceptors,
//! a marshal, an allocation and a queue per packet per viewer).
//!
//! Three parts:
//! - [`KeyTap`], a crypto provider that wraps the default one and keeps a copy of the DTLS-SRTP
//!   exporter output (RFC 5764 §4.2) when the connection's handshake derives it. `rtc` keeps its
//!   SRTP contexts private; the provider is its public extension point, and the exporter is
//!   recognised by its label, so nothing else is observed.
//! - [`SrtpKeys`]: the exporter output split into local and remote master keys, with the role
//!   and profile the connection negotiated (read from its stats).
//! - [`SrtpSender`]: protects RTP packets in place for the two profiles the SFU negotiates,
//!   `SRTP_AEAD_AES_128_GCM` (RFC 7714, preferred) and `SRTP_AES128_CM_HMAC_SHA1_80`
//!   (RFC 3711). No allocation per packet.
//!
//! RTCP towards viewers still goes through the connection (rare, and it keeps its own SRTCP
//! index), so the two never share a nonce: RTP is only ever protected here for the SSRCs the SFU
//! sends, and RTCP only ever by `rtc`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtc::crypto::{
    AeadAlgorithm, AeadCipher, BlockCipherAlgorithm, CryptoAlgorithm, CryptoError, HashAlgorithm,
    HmacAlgorithm, Mac, RTCCrypto, RTCCryptoProvider, RTCRandom, StreamCipher,
    StreamCipherAlgorithm,
};
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::peer_connection::RTCPeerConnection;
use rtc::srtp::config::LABEL_EXTRACTOR_DTLS_SRTP;
use rtc::srtp::protection_profile::ProtectionProfile;
use rtc::statistics::StatsSelector;

/// RTP header length the SFU writes: version 2, no padding, extensions or CSRCs.
pub const RTP_HEADER_LEN: usize = 12;
/// The longest authentication tag of the supported profiles.
pub const MAX_TAG_LEN: usize = 16;

const LABEL_SRTP_ENCRYPTION: u8 = 0x00;
const LABEL_SRTP_AUTHENTICATION: u8 = 0x01;
const LABEL_SRTP_SALT: u8 = 0x02;

/// The SRTP protection profiles the SFU offers in DTLS, in order of preference.
pub fn supported_profiles() -> Vec<rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile>
{
    use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile as P;
    vec![P::Srtp_Aead_Aes_128_Gcm, P::Srtp_Aes128_Cm_Hmac_Sha1_80]
}

/// Errors of the SRTP egress.
#[derive(Debug, thiserror::Error)]
pub enum SrtpError {
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    #[error("SRTP profile {0} is not supported by the egress")]
    Profile(String),
    #[error("the DTLS handshake has not exported SRTP keys yet")]
    NotReady,
    #[error("buffer too small for the protected packet")]
    Buffer,
}

// ------------------------------------------------------------------------------------------------
// Key tap

type Exports = Arc<Mutex<Vec<Vec<u8>>>>;

/// A crypto provider that delegates everything to the default provider and keeps the DTLS-SRTP
/// exporter output of the one connection it is given to.
pub struct KeyTap {
    crypto: TapCrypto,
}

impl std::fmt::Debug for KeyTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyTap")
    }
}

struct TapCrypto {
    inner: Arc<dyn RTCCryptoProvider>,
    exports: Exports,
}

impl KeyTap {
    /// A tap around the default provider. Use one per connection.
    pub fn new() -> Result<Arc<KeyTap>, SrtpError> {
        Ok(Arc::new(KeyTap {
            crypto: TapCrypto {
                inner: rtc::crypto::default_provider()?,
                exports: Arc::default(),
            },
        }))
    }

    /// The newest exporter output, if the handshake has produced one.
    fn exported(&self) -> Option<Vec<u8>> {
        self.crypto.exports.lock().ok()?.last().cloned()
    }
}

impl RTCCryptoProvider for KeyTap {
    fn name(&self) -> &'static str {
        "lectern-key-tap"
    }

    fn crypto(&self) -> &dyn RTCCrypto {
        &self.crypto
    }

    fn random(&self) -> &dyn RTCRandom {
        self.crypto.inner.random()
    }
}

impl RTCCrypto for TapCrypto {
    fn supports(&self, algorithm: CryptoAlgorithm) -> bool {
        self.inner.crypto().supports(algorithm)
    }

    fn hash(&self, algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.crypto().hash(algorithm, data)
    }

    fn block_encrypt(
        &self,
        algorithm: BlockCipherAlgorithm,
        key: &[u8],
        block: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.inner.crypto().block_encrypt(algorithm, key, block)
    }

    fn new_hmac(&self, algorithm: HmacAlgorithm, key: &[u8]) -> Result<Box<dyn Mac>, CryptoError> {
        let inner = self.inner.crypto().new_hmac(algorithm, key)?;
        Ok(Box::new(TapMac {
            inner,
            exports: self.exports.clone(),
        }))
    }

    fn new_stream_cipher(
        &self,
        algorithm: StreamCipherAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn StreamCipher>, CryptoError> {
        self.inner.crypto().new_stream_cipher(algorithm, key)
    }

    fn new_aead(
        &self,
        algorithm: AeadAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn AeadCipher>, CryptoError> {
        self.inner.crypto().new_aead(algorithm, key)
    }

    fn new_cbc(
        &self,
        algorithm: rtc::crypto::CbcAlgorithm,
        key: &[u8],
    ) -> Result<Box<dyn rtc::crypto::CbcCipher>, CryptoError> {
        self.inner.crypto().new_cbc(algorithm, key)
    }

    fn start_key_exchange(
        &self,
        algorithm: rtc::crypto::KeyExchangeAlgorithm,
    ) -> Result<Box<dyn rtc::crypto::ActiveKeyExchange>, CryptoError> {
        self.inner.crypto().start_key_exchange(algorithm)
    }

    fn generate_signing_key(
        &self,
        scheme: rtc::crypto::SignatureScheme,
    ) -> Result<Arc<dyn rtc::crypto::SigningKey>, CryptoError> {
        self.inner.crypto().generate_signing_key(scheme)
    }

    fn import_signing_key(
        &self,
        scheme: rtc::crypto::SignatureScheme,
        pkcs8_der: &[u8],
    ) -> Result<Arc<dyn rtc::crypto::SigningKey>, CryptoError> {
        self.inner.crypto().import_signing_key(scheme, pkcs8_der)
    }

    fn verify_signature(
        &self,
        scheme: rtc::crypto::SignatureScheme,
        public_key: rtc::crypto::PublicKey<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.inner
            .crypto()
            .verify_signature(scheme, public_key, message, signature)
    }
}

/// An HMAC that notices the TLS PRF rounds of the DTLS-SRTP exporter. The PRF (RFC 5246 §5)
/// computes `A(i) = HMAC(secret, A(i-1))` with `A(0) = seed`, then output blocks
/// `HMAC(secret, A(i) + seed)`; the exporter's seed starts with its label. So a one-part input
/// that starts with the label begins an export, and a two-part input whose second part starts
/// with it is an output block.
struct TapMac {
    inner: Box<dyn Mac>,
    exports: Exports,
}

impl Mac for TapMac {
    fn output_len(&self) -> usize {
        self.inner.output_len()
    }

    fn sign(&mut self, input: &[&[u8]], output: &mut [u8]) -> Result<(), CryptoError> {
        self.inner.sign(input, output)?;
        let label = LABEL_EXTRACTOR_DTLS_SRTP.as_bytes();
        match input {
            [seed] if seed.starts_with(label) => {
                if let Ok(mut e) = self.exports.lock() {
                    e.push(Vec::new());
                }
            }
            [_, seed] if seed.starts_with(label) => {
                if let Ok(mut e) = self.exports.lock() {
                    if let Some(last) = e.last_mut() {
                        last.extend_from_slice(output);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn verify(&mut self, input: &[&[u8]], expected: &[u8]) -> Result<(), CryptoError> {
        self.inner.verify(input, expected)
    }
}

// ------------------------------------------------------------------------------------------------
// Keys

/// Master keys of one DTLS-SRTP session, split by direction.
#[derive(Clone)]
pub struct SrtpKeys {
    pub profile: ProtectionProfile,
    pub local_key: Vec<u8>,
    pub local_salt: Vec<u8>,
    pub remote_key: Vec<u8>,
    pub remote_salt: Vec<u8>,
}

impl std::fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl SrtpKeys {
    /// The keys of a connected peer connection built with `tap` as its crypto provider.
    pub fn from_connection(
        pc: &mut RTCPeerConnection,
        tap: &KeyTap,
        now: Instant,
    ) -> Result<SrtpKeys, SrtpError> {
        let report = pc.get_stats(now, StatsSelector::None);
        let transport = report.transport().ok_or(SrtpError::NotReady)?;
        let is_client = match transport.dtls_role {
            RTCDtlsRole::Client => true,
            RTCDtlsRole::Server => false,
            _ => return Err(SrtpError::NotReady),
        };
        let profile = match transport.srtp_cipher.as_str() {
            "SRTP_AEAD_AES_128_GCM" => ProtectionProfile::AeadAes128Gcm,
            "SRTP_AES128_CM_HMAC_SHA1_80" => ProtectionProfile::Aes128CmHmacSha1_80,
            "" => return Err(SrtpError::NotReady),
            other => return Err(SrtpError::Profile(other.to_string())),
        };
        let material = tap.exported().ok_or(SrtpError::NotReady)?;
        SrtpKeys::from_exporter(profile, &material, is_client)
    }

    /// Splits exporter output as RFC 5764 §4.2 lays it out: client key, server key, client
    /// salt, server salt. `material` may be longer (whole PRF blocks); the rest is ignored.
    pub fn from_exporter(
        profile: ProtectionProfile,
        material: &[u8],
        is_client: bool,
    ) -> Result<SrtpKeys, SrtpError> {
        let (k, s) = (profile.key_len(), profile.salt_len());
        if material.len() < 2 * (k + s) {
            return Err(SrtpError::NotReady);
        }
        let client_key = &material[..k];
        let server_key = &material[k..2 * k];
        let client_salt = &material[2 * k..2 * k + s];
        let server_salt = &material[2 * k + s..2 * (k + s)];
        let (lk, ls, rk, rs) = if is_client {
            (client_key, client_salt, server_key, server_salt)
        } else {
            (server_key, server_salt, client_key, client_salt)
        };
        Ok(SrtpKeys {
            profile,
            local_key: lk.to_vec(),
            local_salt: ls.to_vec(),
            remote_key: rk.to_vec(),
            remote_salt: rs.to_vec(),
        })
    }

    /// An `rtc` SRTP context that decrypts what the peer sends (clients use it to read media
    /// cheaply; it allocates per packet, which is fine on the receiving side of a test).
    pub fn remote_context(&self) -> Result<rtc::srtp::context::Context, SrtpError> {
        let provider = rtc::crypto::default_provider()?;
        rtc::srtp::context::Context::new(
            &self.remote_key,
            &self.remote_salt,
            self.profile,
            None,
            None,
            provider.crypto(),
        )
        .map_err(|e| SrtpError::Profile(e.to_string()))
    }

    /// The egress protector for what this side sends.
    pub fn sender(&self) -> Result<SrtpSender, SrtpError> {
        SrtpSender::new(self.profile, &self.local_key, &self.local_salt)
    }
}

// ------------------------------------------------------------------------------------------------
// Egress

enum Cipher {
    Gcm {
        aead: Box<dyn AeadCipher>,
        salt: [u8; 12],
    },
    CmSha1 {
        ctr: Box<dyn StreamCipher>,
        mac: Box<dyn Mac>,
        salt: [u8; 14],
        tag_len: usize,
    },
}

/// The RTP header of a forwarded packet as one viewer gets it (version 2, no extensions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
}

/// Protects outgoing RTP packets of one connection in place.
pub struct SrtpSender {
    cipher: Cipher,
}

impl std::fmt::Debug for SrtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SrtpSender")
    }
}

impl SrtpSender {
    /// A protector from a master key and salt (RFC 3711 §4.3 key derivation, rate 0).
    pub fn new(
        profile: ProtectionProfile,
        master_key: &[u8],
        master_salt: &[u8],
    ) -> Result<SrtpSender, SrtpError> {
        let provider = rtc::crypto::default_provider()?;
        let crypto = provider.crypto();
        if master_key.len() != 16 || master_salt.len() != profile.salt_len() {
            return Err(SrtpError::Profile(format!("{profile:?} key sizes")));
        }
        let cipher = match profile {
            ProtectionProfile::AeadAes128Gcm => {
                let mut key = [0u8; 16];
                derive(
                    crypto,
                    LABEL_SRTP_ENCRYPTION,
                    master_key,
                    master_salt,
                    &mut key,
                )?;
                let mut salt = [0u8; 12];
                derive(crypto, LABEL_SRTP_SALT, master_key, master_salt, &mut salt)?;
                Cipher::Gcm {
                    aead: crypto.new_aead(AeadAlgorithm::Aes128Gcm, &key)?,
                    salt,
                }
            }
            ProtectionProfile::Aes128CmHmacSha1_80 => {
                let mut key = [0u8; 16];
                derive(
                    crypto,
                    LABEL_SRTP_ENCRYPTION,
                    master_key,
                    master_salt,
                    &mut key,
                )?;
                let mut auth = [0u8; 20];
                derive(
                    crypto,
                    LABEL_SRTP_AUTHENTICATION,
                    master_key,
                    master_salt,
                    &mut auth,
                )?;
                let mut salt = [0u8; 14];
                derive(crypto, LABEL_SRTP_SALT, master_key, master_salt, &mut salt)?;
                Cipher::CmSha1 {
                    ctr: crypto.new_stream_cipher(StreamCipherAlgorithm::Aes128Ctr, &key)?,
                    mac: crypto.new_hmac(HmacAlgorithm::Sha1, &auth)?,
                    salt,
                    tag_len: 10,
                }
            }
            other => return Err(SrtpError::Profile(format!("{other:?}"))),
        };
        Ok(SrtpSender { cipher })
    }

    /// Bytes the protection appends to a packet.
    pub fn tag_len(&self) -> usize {
        match &self.cipher {
            Cipher::Gcm { .. } => 16,
            Cipher::CmSha1 { tag_len, .. } => *tag_len,
        }
    }

    /// Writes a forwarded packet into `buf` (a 12-byte header from `h`, then `payload`, the one
    /// copy of it for this viewer) and protects it in place; returns the protected length.
    pub fn seal_rtp(
        &mut self,
        buf: &mut [u8],
        h: &OutHeader,
        payload: &[u8],
        roc: u32,
    ) -> Result<usize, SrtpError> {
        let len = RTP_HEADER_LEN + payload.len();
        if buf.len() < len + self.tag_len() {
            return Err(SrtpError::Buffer);
        }
        buf[0] = 0x80;
        buf[1] = (u8::from(h.marker) << 7) | (h.payload_type & 0x7f);
        buf[2..4].copy_from_slice(&h.seq.to_be_bytes());
        buf[4..8].copy_from_slice(&h.ts.to_be_bytes());
        buf[8..12].copy_from_slice(&h.ssrc.to_be_bytes());
        buf[RTP_HEADER_LEN..len].copy_from_slice(payload);
        self.protect(buf, len, roc)
    }

    /// Protects the RTP packet in `buf[..len]` (a 12-byte header, then the payload) in place
    /// and appends the tag; returns the protected length. `roc` is the rollover counter of the
    /// packet's SSRC ([`Rollover`]).
    pub fn protect(&mut self, buf: &mut [u8], len: usize, roc: u32) -> Result<usize, SrtpError> {
        let total = len + self.tag_len();
        if len < RTP_HEADER_LEN || buf.len() < total {
            return Err(SrtpError::Buffer);
        }
        let ssrc = [buf[8], buf[9], buf[10], buf[11]];
        let seq = [buf[2], buf[3]];
        let roc = roc.to_be_bytes();
        match &mut self.cipher {
            Cipher::Gcm { aead, salt } => {
                // RFC 7714 §8.1: 00 00 || SSRC || ROC || SEQ, XOR the session salt.
                let mut iv = [0u8; 12];
                iv[2..6].copy_from_slice(&ssrc);
                iv[6..10].copy_from_slice(&roc);
                iv[10..12].copy_from_slice(&seq);
                for (v, s) in iv.iter_mut().zip(salt.iter()) {
                    *v ^= s;
                }
                let (header, rest) = buf.split_at_mut(RTP_HEADER_LEN);
                let (payload, tail) = rest.split_at_mut(len - RTP_HEADER_LEN);
                aead.seal_in_place(&iv, header, payload, &mut tail[..16])?;
            }
            Cipher::CmSha1 {
                ctr,
                mac,
                salt,
                tag_len,
            } => {
                // RFC 3711 §4.1.1: IV = (salt · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16).
                let mut iv = [0u8; 16];
                iv[..14].copy_from_slice(salt);
                for (i, b) in ssrc.iter().enumerate() {
                    iv[4 + i] ^= b;
                }
                for (i, b) in roc.iter().enumerate() {
                    iv[8 + i] ^= b;
                }
                iv[12] ^= seq[0];
                iv[13] ^= seq[1];
                ctr.apply_keystream(&iv, &mut buf[RTP_HEADER_LEN..len])?;
                // RFC 3711 §4.2: HMAC-SHA1 over the packet and the ROC, truncated.
                let mut full = [0u8; 20];
                mac.sign(&[&buf[..len], &roc], &mut full)?;
                buf[len..len + *tag_len].copy_from_slice(&full[..*tag_len]);
            }
        }
        Ok(total)
    }
}

/// The AES-CM key derivation function of RFC 3711 §4.3.3 with a key derivation rate of 0: the
/// keystream of AES(master key) from the IV `(label · 2^48 XOR master salt) · 2^16`. The salt
/// sits at the start of the block and the label at byte 7, as in libsrtp, for 14-byte and
/// 12-byte (RFC 7714) salts alike.
fn derive(
    crypto: &dyn RTCCrypto,
    label: u8,
    master_key: &[u8],
    master_salt: &[u8],
    out: &mut [u8],
) -> Result<(), SrtpError> {
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut block = [0u8; 16];
        block[..master_salt.len()].copy_from_slice(master_salt);
        block[7] ^= label;
        block[14..16].copy_from_slice(&(i as u16).to_be_bytes());
        crypto.block_encrypt(BlockCipherAlgorithm::Aes128, master_key, &mut block)?;
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
    Ok(())
}

/// The SRTP rollover counter of one outgoing SSRC (RFC 3711 §3.3.1), for a sender whose
/// sequence numbers mostly increase but may repeat older ones (retransmissions).
#[derive(Clone, Copy, Debug, Default)]
pub struct Rollover {
    highest: Option<u16>,
    roc: u32,
}

impl Rollover {
    /// The ROC to protect a packet with sequence number `seq`, advancing on a wrap.
    pub fn roc_for(&mut self, seq: u16) -> u32 {
        let Some(h) = self.highest else {
            self.highest = Some(seq);
            return self.roc;
        };
        let ahead = seq.wrapping_sub(h);
        if ahead == 0 {
            self.roc
        } else if ahead < 0x8000 {
            // Newer. A wrap past 0xffff moves to the next ROC.
            if seq < h {
                self.roc = self.roc.wrapping_add(1);
            }
            self.highest = Some(seq);
            self.roc
        } else if seq > h {
            // Older, from before the last wrap.
            self.roc.wrapping_sub(1)
        } else {
            self.roc
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 96];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&1234u32.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    /// What the egress protects, `rtc`'s own SRTP context (the one every connection uses to
    /// read) must accept, for both profiles and across a sequence number wrap.
    #[test]
    fn protected_packets_decrypt_with_rtc_srtp() {
        for profile in [
            ProtectionProfile::AeadAes128Gcm,
            ProtectionProfile::Aes128CmHmacSha1_80,
        ] {
            let key: Vec<u8> = (0..16u8).collect();
            let salt: Vec<u8> = (100..100 + profile.salt_len() as u8).collect();
            let mut sender = SrtpSender::new(profile, &key, &salt).unwrap();
            let provider = rtc::crypto::default_provider().unwrap();
            let mut receiver = rtc::srtp::context::Context::new(
                &key,
                &salt,
                profile,
                None,
                None,
                provider.crypto(),
            )
            .unwrap();
            let mut roc = Rollover::default();
            for (i, seq) in (0xfff0u16..=0xffff).chain(0..20).enumerate() {
                let payload: Vec<u8> = (0..(50 + i)).map(|b| b as u8).collect();
                let plain = packet(seq, 0xdead_beef, &payload);
                let mut buf = vec![0u8; 1500];
                buf[..plain.len()].copy_from_slice(&plain);
                let n = sender
                    .protect(&mut buf, plain.len(), roc.roc_for(seq))
                    .unwrap();
                assert_eq!(n, plain.len() + sender.tag_len());
                assert_ne!(&buf[12..plain.len()], &plain[12..], "payload is encrypted");
                let opened = receiver.decrypt_rtp(&buf[..n]).unwrap();
                assert_eq!(&opened[..], &plain[..], "{profile:?} seq {seq}");
            }
        }
    }

    #[test]
    fn a_tampered_packet_does_not_authenticate() {
        let key = [7u8; 16];
        let salt = [9u8; 12];
        let mut sender = SrtpSender::new(ProtectionProfile::AeadAes128Gcm, &key, &salt).unwrap();
        let provider = rtc::crypto::default_provider().unwrap();
        let mut receiver = rtc::srtp::context::Context::new(
            &key,
            &salt,
            ProtectionProfile::AeadAes128Gcm,
            None,
            None,
            provider.crypto(),
        )
        .unwrap();
        let plain = packet(1, 1, &[1, 2, 3, 4]);
        let mut buf = [0u8; 64];
        buf[..plain.len()].copy_from_slice(&plain);
        let n = sender.protect(&mut buf, plain.len(), 0).unwrap();
        buf[13] ^= 1;
        assert!(receiver.decrypt_rtp(&buf[..n]).is_err());
    }

    #[test]
    fn protect_refuses_a_short_buffer() {
        let mut sender =
            SrtpSender::new(ProtectionProfile::AeadAes128Gcm, &[1; 16], &[2; 12]).unwrap();
        let mut buf = [0u8; 20];
        assert!(matches!(
            sender.protect(&mut buf, 12, 0),
            Err(SrtpError::Buffer)
        ));
        assert!(matches!(
            sender.protect(&mut buf, 10, 0),
            Err(SrtpError::Buffer)
        ));
        let mut small = [0u8; 30];
        assert!(matches!(
            sender.protect(&mut small, 20, 0),
            Err(SrtpError::Buffer)
        ));
    }

    #[test]
    fn rollover_follows_wraps_and_old_packets() {
        let mut r = Rollover::default();
        assert_eq!(r.roc_for(65530), 0);
        assert_eq!(r.roc_for(65535), 0);
        assert_eq!(r.roc_for(2), 1);
        // A retransmission from before the wrap.
        assert_eq!(r.roc_for(65534), 0);
        assert_eq!(r.roc_for(3), 1);
        assert_eq!(r.roc_for(3), 1);
        for s in (4..=65535u16).step_by(1000) {
            assert_eq!(r.roc_for(s), 1);
        }
        assert_eq!(r.roc_for(65535), 1);
        assert_eq!(r.roc_for(0), 2);
    }

    #[test]
    fn exporter_output_is_split_by_role() {
        let m: Vec<u8> = (0..64).collect();
        let c = SrtpKeys::from_exporter(ProtectionProfile::AeadAes128Gcm, &m, true).unwrap();
        let s = SrtpKeys::from_exporter(ProtectionProfile::AeadAes128Gcm, &m, false).unwrap();
        assert_eq!(c.local_key, s.remote_key);
        assert_eq!(c.local_salt, s.remote_salt);
        assert_eq!(c.local_key, (0..16).collect::<Vec<u8>>());
        assert_eq!(s.local_salt, (44..56).collect::<Vec<u8>>());
        assert!(SrtpKeys::from_exporter(ProtectionProfile::AeadAes128Gcm, &m[..50], true).is_err());
    }
}

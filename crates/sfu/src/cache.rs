//! The retransmission cache of one published track, shared by all of its viewers.
//!
//! A ring indexed by sequence number: storing a packet costs one slot write (the payload is a
//! shared `Bytes`, not a copy), and a NACK from any viewer is answered from here. One cache per
//! track, not per viewer, so memory does not grow with the audience.

use rtc::rtp;

/// A fixed-size ring of recent packets of one track.
#[derive(Debug)]
pub struct PacketCache {
    slots: Box<[Option<Slot>]>,
}

#[derive(Debug)]
struct Slot {
    epoch: u32,
    packet: rtp::Packet,
}

impl PacketCache {
    /// A cache holding the last `capacity` sequence numbers (rounded up to a power of two).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(16, 1 << 15).next_power_of_two();
        Self {
            slots: (0..capacity).map(|_| None).collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn index(&self, seq: u16) -> usize {
        seq as usize & (self.slots.len() - 1)
    }

    /// Remembers a packet of `epoch` (the payload is shared, not copied).
    pub fn insert(&mut self, epoch: u32, packet: &rtp::Packet) {
        let i = self.index(packet.header.sequence_number);
        self.slots[i] = Some(Slot {
            epoch,
            packet: packet.clone(),
        });
    }

    /// The packet with this upstream sequence number of `epoch`, if still held.
    pub fn get(&self, epoch: u32, seq: u16) -> Option<&rtp::Packet> {
        match &self.slots[self.index(seq)] {
            Some(s) if s.epoch == epoch && s.packet.header.sequence_number == seq => {
                Some(&s.packet)
            }
            _ => None,
        }
    }
}

impl PacketCache {
    /// The packets of `epoch` from `first` to `last` (inclusive, in sequence order), if every
    /// one of them is still held. A late joiner can start from a recent keyframe this way: a
    /// complete run from a keyframe decodes cleanly, a run with a hole would not.
    pub fn run(&self, epoch: u32, first: u16, last: u16) -> Option<Vec<&rtp::Packet>> {
        let len = last.wrapping_sub(first) as usize + 1;
        if len > self.slots.len() {
            return None;
        }
        (0..len)
            .map(|i| self.get(epoch, first.wrapping_add(i as u16)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn packet(seq: u16, payload: &'static [u8]) -> rtp::Packet {
        rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                sequence_number: seq,
                ..Default::default()
            },
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn holds_recent_packets_and_forgets_old_ones() {
        let mut c = PacketCache::new(100);
        assert_eq!(c.capacity(), 128);
        for seq in 0..300u16 {
            c.insert(0, &packet(seq, b"x"));
        }
        assert!(c.get(0, 299).is_some());
        assert!(c.get(0, 172).is_some());
        assert!(c.get(0, 171).is_none(), "overwritten by 299");
        assert!(c.get(1, 299).is_none(), "another epoch");
    }

    #[test]
    fn wraps_sequence_numbers() {
        let mut c = PacketCache::new(16);
        for seq in [65_534u16, 65_535, 0, 1] {
            c.insert(3, &packet(seq, b"y"));
        }
        assert_eq!(c.get(3, 65_535).unwrap().header.sequence_number, 65_535);
        assert_eq!(c.get(3, 1).unwrap().payload, Bytes::from_static(b"y"));
    }

    #[test]
    fn complete_runs_only() {
        let mut c = PacketCache::new(16);
        for seq in [65_534u16, 65_535, 0, 1, 3] {
            c.insert(0, &packet(seq, b"z"));
        }
        let run = c.run(0, 65_534, 1).expect("complete across the wrap");
        let seqs: Vec<u16> = run.iter().map(|p| p.header.sequence_number).collect();
        assert_eq!(seqs, vec![65_534, 65_535, 0, 1]);
        assert!(c.run(0, 1, 3).is_none(), "2 is missing");
        assert!(c.run(1, 65_534, 1).is_none(), "other epoch");
        assert!(c.run(0, 0, 40).is_none(), "longer than the cache");
    }

    #[test]
    fn shares_payload_without_copying() {
        let mut c = PacketCache::new(16);
        let p = packet(9, b"payload");
        c.insert(0, &p);
        assert_eq!(c.get(0, 9).unwrap().payload.as_ptr(), p.payload.as_ptr());
    }
}

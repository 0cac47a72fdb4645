//! Newtyped identifiers: a `TrackId` can never be passed where a `PeerId` is meant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A scheduled class meeting; also the id of its live room.
    SessionId
);
uuid_id!(
    /// One signalling connection (one browser tab) in a room.
    PeerId
);
uuid_id!(
    /// A published media track (camera, microphone or screen of one publisher). It keeps its id
    /// while its publisher reconnects.
    TrackId
);
uuid_id!(
    /// One recording of a session: from a start to a stop of the recorder, on one timeline.
    RecordingId
);
uuid_id!(
    /// A question of a session's Q&A.
    QuestionId
);

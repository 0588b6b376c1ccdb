//! What Capstan does with each flag: honoured, ignored with a warning, or refused.

use super::*;

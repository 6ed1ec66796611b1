//! The `scheme_replies` target: hostile guest-scheme answers.

use super::*;

// ---------------------------------------------------------------------
// scheme_replies
// ---------------------------------------------------------------------

/// A fuzzed scheme operation, borrowing from `side`.
pub(super) fn scheme_op<'s>(input: &mut Input<'_>, side: &'s [u8], pick: (usize, usize)) -> SchemeOp<'s> {
    let text = std::str::from_utf8(&side[pick.0..pick.1]).unwrap_or("");
    let data = &side[pick.0..pick.1];
    let id = u64::from(input.u8() % 4);
    match input.below(11) {
        0 => SchemeOp::Open { path: text, flags: input.pick(FLAGS) },
        1 => SchemeOp::Read { id, offset: input.pick(OFFSETS), len: input.u32() },
        2 => SchemeOp::Write { id, offset: input.pick(OFFSETS), data },
        3 => SchemeOp::Fstat { id },
        4 => SchemeOp::Fsize { id },
        5 => SchemeOp::Fpath { id },
        6 => SchemeOp::Getdents { id, offset: input.pick(OFFSETS) },
        7 => SchemeOp::Ftruncate { id, len: input.pick(OFFSETS) },
        8 => SchemeOp::Fsync { id },
        9 => SchemeOp::Close { id },
        _ => SchemeOp::Unlink { path: text, flags: input.u32() },
    }
}

/// The guest-scheme table fed hostile provider replies (first byte
/// even), checking every request gets exactly one answer; or (odd) a
/// daemon whose `fz` provider answers with fuzzed replies, used by a
/// guest client and by the control tree.
pub fn scheme_replies(data: &[u8]) {
    let mut input = Input::new(data);
    if input.u8() & 1 == 1 {
        let mut rig = Rig::new(&mut input, true, input_bool_peek(data));
        for _ in 0..48 {
            if input.is_empty() {
                break;
            }
            rig.op(&mut input);
        }
        rig.finish();
        return;
    }
    let mut t = SchemeTable::default();
    let names = ["fz", "ab", "wasm", "", "x.y", "fz"];
    // tag -> (scheme, origin) of every request that expects an answer.
    let mut expecting: HashMap<u64, (String, Origin)> = HashMap::new();
    let mut answered: HashSet<u64> = HashSet::new();
    let mut all_tags: Vec<u64> = Vec::new();
    let mut side = Vec::new();
    for _ in 0..128 {
        if input.is_empty() {
            break;
        }
        let name = if input.below(8) == 0 { input.string(8) } else { input.pick(&names).to_string() };
        match input.below(10) {
            0 => {
                let _ = t.register(&name, Pid::from(1 + input.u8() % 3));
            }
            1 | 2 => {
                side.clear();
                side.extend_from_slice(input.bytes(24));
                let op = scheme_op(&mut input, &side, (0, side.len()));
                let is_close = matches!(op, SchemeOp::Close { .. });
                let origin = if input.bool() {
                    Origin::External
                } else {
                    Origin::Guest { pid: Pid::from(input.u8()), token: u64::from(input.u8()) }
                };
                if let Ok(tag) = t.submit(&name, Pid::from(input.u8()), op, origin.clone()) {
                    assert!(!all_tags.contains(&tag), "tag {tag} given twice");
                    all_tags.push(tag);
                    if !is_close {
                        expecting.insert(tag, (name.clone(), origin));
                    }
                }
            }
            3 | 4 => {
                let cap = input.pick(&[0usize, 1, 8, 16, 64, 4096, usize::MAX]);
                if let Some((len, bytes)) = t.next_request(&name, cap) {
                    if bytes.is_empty() {
                        assert!(len > cap, "an empty request handed out");
                    } else {
                        assert_eq!(len, bytes.len());
                        let req: SchemeRequest<'_> = msg::decode(&bytes).expect("a request decodes");
                        assert!(all_tags.contains(&req.tag), "a request with an unknown tag");
                    }
                }
            }
            5 | 6 => {
                let bytes = if input.below(4) == 0 {
                    input.bytes(48).to_vec()
                } else {
                    let tag = if !all_tags.is_empty() && input.below(4) != 0 {
                        all_tags[input.below(all_tags.len())]
                    } else {
                        input.u64()
                    };
                    let mut owned = Vec::new();
                    let result = scheme_result(&mut input, &mut owned);
                    msg::encode(&SchemeReply { tag, result: result.borrowed(&owned) })
                };
                let _ = t.reply(&name, &bytes);
            }
            7 => t.provider_gone(Pid::from(1 + input.u8() % 3)),
            8 => t.unregister(&name),
            _ => {
                t.park(&name, Pid::from(1 + input.u8() % 3));
                let _ = (t.take_ready_providers(), t.has_work(), t.names(), t.provider(&name));
            }
        }
        take_answers(&mut t, &expecting, &mut answered);
        let _ = t.take_events();
    }
    for name in t.names() {
        t.unregister(&name);
    }
    take_answers(&mut t, &expecting, &mut answered);
    let mut missing: Vec<&u64> = expecting.keys().filter(|tag| !answered.contains(tag)).collect();
    missing.sort_unstable();
    assert!(missing.is_empty(), "requests never answered: {missing:?}");
}

pub(super) fn input_bool_peek(data: &[u8]) -> bool {
    data.get(1).is_some_and(|b| b & 1 == 1)
}

/// Takes the table's answers: each for an expected request, its origin,
/// once.
pub(super) fn take_answers(
    t: &mut SchemeTable,
    expecting: &HashMap<u64, (String, Origin)>,
    answered: &mut HashSet<u64>,
) {
    let external = t.take_external().into_iter().map(|(tag, r)| (tag, Origin::External, r));
    let guest = t
        .take_guest_replies()
        .into_iter()
        .map(|g| (0, Origin::Guest { pid: g.pid, token: g.token }, g.reply))
        .collect::<Vec<_>>();
    for (tag, origin, reply) in external {
        let (_, expected) =
            expecting.get(&tag).unwrap_or_else(|| panic!("answer {reply:?} for unknown tag {tag}"));
        assert_eq!(*expected, origin, "answer for tag {tag} went to the wrong origin");
        assert!(answered.insert(tag), "tag {tag} answered twice");
    }
    for (_, origin, reply) in guest {
        // Guest answers carry the wait token, not the tag: match them to
        // an expected, unanswered request of that origin.
        let found = expecting
            .iter()
            .filter(|(tag, (_, o))| *o == origin && !answered.contains(tag))
            .map(|(tag, _)| *tag)
            .min();
        let tag = found.unwrap_or_else(|| panic!("guest answer {reply:?} to {origin:?} that nobody expects"));
        answered.insert(tag);
        let _: SchemeAnswer = reply;
    }
}

//! The RFC 6962 / RFC 9162 Merkle tree over audit leaf hashes.
//!
//! Everything here works on leaf hashes (`SHA-256(0x00 || entry)`, see
//! [`super::leaf_hash`]), never on entries. Interior nodes are
//! `SHA-256(0x01 || left || right)`; a tree of `n > 1` leaves is split at the
//! largest power of two strictly below `n`; the empty tree's root is the
//! SHA-256 of the empty string.
//!
//! [`CompactRange`] folds leaves in one at a time and keeps one hash per set
//! bit of the size, so the root of a million-leaf log costs 20 hashes of
//! memory. The proof builders take the whole slice of leaf hashes (they are
//! for tests, tools and small trees); the verifiers follow the loops of
//! RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.
//!
//! What binds a proof to a tree size is the root: the verification loops
//! read the size only through the left/right shape of the path, and some
//! different sizes share a shape (index 0 in trees of 3 and 4 leaves, for
//! example). A proof checked against the root signed for that very size, as
//! a checkpoint provides, is conclusive.

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash: a leaf hash, a node hash or a root.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// A proof that does not verify, or a proof that cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The "old" tree is larger than the "new" one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
    /// The proof has too many or too few hashes for the sizes and index.
    #[error("proof has the wrong number of hashes")]
    ProofLength,
    /// The proof does not lead to the (new) root.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// A consistency proof does not lead to the old root.
    #[error("consistency proof does not lead to the old root")]
    OldRootMismatch,
}

/// An interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The root of the tree whose leaf hashes are `leaves`, in order.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut range = CompactRange::new();
    for leaf in leaves {
        range.append(*leaf);
    }
    range.root()
}

/// The right edge of a tree built left to right: the roots of the perfect
/// subtrees the leaves so far decompose into, largest first. It holds one
/// hash per set bit of the size, so appending is amortised O(1) hashes and
/// the state is at most 64 hashes whatever the size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    peaks: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> CompactRange {
        CompactRange::default()
    }

    /// Number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, largest (leftmost) first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends the next leaf hash.
    pub fn append(&mut self, leaf: Hash) {
        // Each trailing one bit of the old size is a perfect subtree of the
        // same height as the one being carried: merge them, as in binary
        // addition.
        let mut carry = leaf;
        let mut bits = self.size;
        while bits & 1 == 1 {
            match self.peaks.pop() {
                Some(left) => carry = node_hash(&left, &carry),
                None => break,
            }
            bits >>= 1;
        }
        self.peaks.push(carry);
        self.size += 1;
    }

    /// The root of the tree of the leaves appended so far.
    pub fn root(&self) -> Hash {
        // RFC 6962 splits at the largest power of two, so the root is the
        // peaks folded from the right: peak0 || (peak1 || (... || last)).
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return EMPTY_ROOT;
        };
        peaks.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// The largest power of two strictly below `n`, for `n >= 2`.
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

fn to_index(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// The RFC 9162 inclusion proof (audit path) of leaf `index` in the tree
/// of all of `leaves`, deepest sibling first. For a proof at a smaller tree
/// size, pass `&leaves[..size]`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    let out_of_range = MerkleError::IndexOutOfRange { index, size };
    let mut m = to_index(index).ok_or(out_of_range)?;
    if m >= leaves.len() {
        return Err(out_of_range);
    }
    let (mut lo, mut hi) = (0, leaves.len());
    let mut path = Vec::new();
    while hi - lo > 1 {
        let k = split(hi - lo);
        if m < k {
            path.push(root(&leaves[lo + k..hi]));
            hi = lo + k;
        } else {
            path.push(root(&leaves[lo..lo + k]));
            lo += k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The RFC 9162 consistency proof that the tree of the first `old_size`
/// leaves is a prefix of the tree of all of `leaves`. Empty when `old_size`
/// is 0 or the whole tree.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let new = leaves.len() as u64;
    let order = MerkleError::SizeOrder { old: old_size, new };
    let mut m = to_index(old_size).ok_or(order)?;
    if m > leaves.len() {
        return Err(order);
    }
    if m == 0 || m == leaves.len() {
        return Ok(Vec::new());
    }
    let (mut lo, mut hi) = (0, leaves.len());
    // Whether the subtree being descended is still the old tree's own left
    // edge, whose root the verifier already holds.
    let mut on_old_edge = true;
    let mut proof = Vec::new();
    loop {
        if m == hi - lo {
            if !on_old_edge {
                proof.push(root(&leaves[lo..hi]));
            }
            break;
        }
        let k = split(hi - lo);
        if m <= k {
            proof.push(root(&leaves[lo + k..hi]));
            hi = lo + k;
        } else {
            proof.push(root(&leaves[lo..lo + k]));
            lo += k;
            m -= k;
            on_old_edge = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks that `leaf` is leaf number `index` of the tree of `size` leaves
/// whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut f = index;
    let mut s = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(MerkleError::ProofLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::ProofLength);
    }
    if r != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a
/// prefix of the tree of `new_size` leaves with root `new_root`
/// (RFC 9162 §2.1.4.2). The two trivial cases the RFC leaves out are
/// settled strictly: equal sizes need an empty proof and equal roots; an
/// old size of 0 needs an empty proof and the empty root.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizeOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(MerkleError::ProofLength);
        }
        if old_size == 0 && *old_root != EMPTY_ROOT {
            return Err(MerkleError::OldRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(MerkleError::RootMismatch);
        }
        return Ok(());
    }
    // Step 1 (an empty path fails) and step 2 (a power-of-two old size
    // starts from the old root itself) and step 5 (start from the first
    // hash of the path).
    let (start, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(MerkleError::ProofLength),
        }
    };
    if proof.is_empty() {
        return Err(MerkleError::ProofLength);
    }
    // Steps 3 and 4.
    let mut f = old_size - 1;
    let mut s = new_size - 1;
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    // Step 6.
    for c in rest {
        if s == 0 {
            return Err(MerkleError::ProofLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    // Step 7.
    if s != 0 {
        return Err(MerkleError::ProofLength);
    }
    if fr != *old_root {
        return Err(MerkleError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::audit::leaf_hash;
    use proptest::prelude::*;

    /// The eight leaf inputs of the RFC 6962 / Certificate Transparency
    /// reference tests.
    const CT_INPUTS: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];

    /// Roots of the first n of those leaves, n = 0..=8.
    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn ct_leaves() -> Vec<Hash> {
        CT_INPUTS.iter().map(|d| leaf_hash(d)).collect()
    }

    fn h(s: &str) -> Hash {
        let v = hex::decode(s).unwrap();
        v.try_into().unwrap()
    }

    fn hexes(v: &[Hash]) -> Vec<String> {
        v.iter().map(hex::encode).collect()
    }

    fn leaves(n: usize, salt: u8) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&[&(i as u64).to_be_bytes()[..], &[salt]].concat()))
            .collect()
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let d: Hash = Sha256::digest(b"").into();
        assert_eq!(EMPTY_ROOT, d);
        assert_eq!(root(&[]), EMPTY_ROOT);
        assert_eq!(CompactRange::new().root(), EMPTY_ROOT);
    }

    #[test]
    fn rfc6962_roots_at_every_size() {
        let l = ct_leaves();
        let root8 = hex::encode(root(&l));
        assert!(root8.starts_with("5dc9da79") && root8.ends_with("f4604328"));
        let mut range = CompactRange::new();
        for n in 0..=8 {
            assert_eq!(hex::encode(root(&l[..n])), CT_ROOTS[n], "root of {n}");
            assert_eq!(hex::encode(range.root()), CT_ROOTS[n], "range of {n}");
            assert_eq!(range.size(), n as u64);
            assert_eq!(range.peaks().len(), n.count_ones() as usize);
            if n < 8 {
                range.append(l[n]);
            }
        }
    }

    #[test]
    fn rfc6962_reference_proofs() {
        let l = ct_leaves();
        let path_0_8 = [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ];
        let path_5_8 = [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ];
        let cons_2_8 = [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ];
        let cons_6_8 = [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ];
        let r8 = h(CT_ROOTS[8]);
        let p = inclusion_proof(&l, 0).unwrap();
        assert_eq!(hexes(&p), path_0_8);
        verify_inclusion(&l[0], 0, 8, &p, &r8).unwrap();
        let p = inclusion_proof(&l, 5).unwrap();
        assert_eq!(hexes(&p), path_5_8);
        verify_inclusion(&l[5], 5, 8, &p, &r8).unwrap();
        let p = consistency_proof(&l, 2).unwrap();
        assert_eq!(hexes(&p), cons_2_8);
        verify_consistency(2, 8, &h(CT_ROOTS[2]), &r8, &p).unwrap();
        let p = consistency_proof(&l, 6).unwrap();
        assert_eq!(hexes(&p), cons_6_8);
        verify_consistency(6, 8, &h(CT_ROOTS[6]), &r8, &p).unwrap();
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies() {
        let l = leaves(70, 1);
        let roots: Vec<Hash> = (0..=l.len()).map(|n| root(&l[..n])).collect();
        for n in 0..=l.len() {
            for i in 0..n {
                let p = inclusion_proof(&l[..n], i as u64).unwrap();
                assert!(p.len() <= 7);
                verify_inclusion(&l[i], i as u64, n as u64, &p, &roots[n]).unwrap();
            }
            for m in 0..=n {
                let p = consistency_proof(&l[..n], m as u64).unwrap();
                assert_eq!(p.is_empty(), m == 0 || m == n, "{m} -> {n}");
                verify_consistency(m as u64, n as u64, &roots[m], &roots[n], &p).unwrap();
            }
        }
    }

    #[test]
    fn out_of_range_requests_are_errors() {
        let l = leaves(5, 2);
        assert_eq!(
            inclusion_proof(&l, 5),
            Err(MerkleError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            inclusion_proof(&[], 0),
            Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            consistency_proof(&l, 6),
            Err(MerkleError::SizeOrder { old: 6, new: 5 })
        );
        let r = root(&l);
        assert_eq!(
            verify_inclusion(&l[0], 5, 5, &[], &r),
            Err(MerkleError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            verify_consistency(6, 5, &r, &r, &[]),
            Err(MerkleError::SizeOrder { old: 6, new: 5 })
        );
        // Trivial cases are strict.
        assert_eq!(
            verify_consistency(0, 5, &r, &r, &[]),
            Err(MerkleError::OldRootMismatch)
        );
        assert_eq!(
            verify_consistency(0, 5, &EMPTY_ROOT, &r, &[r]),
            Err(MerkleError::ProofLength)
        );
        assert_eq!(
            verify_consistency(5, 5, &r, &EMPTY_ROOT, &[]),
            Err(MerkleError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(3, 5, &root(&l[..3]), &r, &[]),
            Err(MerkleError::ProofLength)
        );
        assert_eq!(
            verify_consistency(4, 5, &root(&l[..4]), &r, &[]),
            Err(MerkleError::ProofLength)
        );
    }

    #[test]
    fn huge_sizes_do_not_panic() {
        let x = [7u8; 32];
        assert!(verify_inclusion(&x, u64::MAX - 1, u64::MAX, &[x; 70], &x).is_err());
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &x, &x, &[x; 70]).is_err());
        assert!(verify_consistency(1 << 63, u64::MAX, &x, &x, &[x; 3]).is_err());
    }

    fn flip(h: &Hash, bit: usize) -> Hash {
        let mut out = *h;
        out[(bit / 8) % 32] ^= 1 << (bit % 8);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn inclusion_proofs_verify_and_tampering_fails(
            n in 1usize..300,
            pick in any::<prop::sample::Index>(),
            bit in 0usize..256,
            which in any::<prop::sample::Index>(),
            other in 0u64..400,
        ) {
            let l = leaves(n, 3);
            let i = pick.index(n);
            let r = root(&l);
            let p = inclusion_proof(&l, i as u64).unwrap();
            prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &p, &r).is_ok());
            // A flipped bit in the leaf, the root or any proof hash.
            prop_assert!(verify_inclusion(&flip(&l[i], bit), i as u64, n as u64, &p, &r).is_err());
            prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &p, &flip(&r, bit)).is_err());
            if !p.is_empty() {
                let mut bad = p.clone();
                let k = which.index(p.len());
                bad[k] = flip(&bad[k], bit);
                prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &bad, &r).is_err());
                // A shortened proof.
                prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &p[1..], &r).is_err());
            }
            // A lengthened proof.
            let mut longer = p.clone();
            longer.push(r);
            prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &longer, &r).is_err());
            // Another index in the same tree.
            if other as usize != i {
                prop_assert!(verify_inclusion(&l[i], other, n as u64, &p, &r).is_err());
            }
            // Another size, against that size's own root.
            if other as usize != n && other > 0 {
                let m = other as usize;
                let rr = if m <= l.len() { root(&l[..m]) } else { root(&leaves(m, 3)) };
                prop_assert!(verify_inclusion(&l[i], i as u64, other, &p, &rr).is_err());
            }
        }

        #[test]
        fn consistency_proofs_verify_and_tampering_fails(
            n in 1usize..300,
            pick in any::<prop::sample::Index>(),
            bit in 0usize..256,
            which in any::<prop::sample::Index>(),
            delta in 1usize..40,
        ) {
            let l = leaves(n, 4);
            let m = pick.index(n + 1);
            let (rm, rn) = (root(&l[..m]), root(&l));
            let p = consistency_proof(&l, m as u64).unwrap();
            prop_assert!(verify_consistency(m as u64, n as u64, &rm, &rn, &p).is_ok());
            if 0 < m && m < n {
                prop_assert!(verify_consistency(m as u64, n as u64, &flip(&rm, bit), &rn, &p).is_err());
                prop_assert!(verify_consistency(m as u64, n as u64, &rm, &flip(&rn, bit), &p).is_err());
                let mut bad = p.clone();
                let k = which.index(p.len());
                bad[k] = flip(&bad[k], bit);
                prop_assert!(verify_consistency(m as u64, n as u64, &rm, &rn, &bad).is_err());
                prop_assert!(verify_consistency(m as u64, n as u64, &rm, &rn, &p[1..]).is_err());
                let mut longer = p.clone();
                longer.push(rn);
                prop_assert!(verify_consistency(m as u64, n as u64, &rm, &rn, &longer).is_err());
                // Other sizes, against their own roots.
                let more = leaves(n + delta, 4);
                let rbig = root(&more);
                prop_assert!(verify_consistency(m as u64, (n + delta) as u64, &rm, &rbig, &p).is_err());
                if m + delta < n {
                    let m2 = m + delta;
                    prop_assert!(verify_consistency(m2 as u64, n as u64, &root(&l[..m2]), &rn, &p).is_err());
                }
            }
            // A different history of the same size is never consistent.
            if m > 0 {
                let mut forked = l.clone();
                forked[m - 1] = flip(&forked[m - 1], bit);
                prop_assert!(verify_consistency(m as u64, n as u64, &root(&forked[..m]), &rn, &p).is_err());
            }
        }

        #[test]
        fn compact_range_matches_recursive_definition(n in 0usize..200) {
            let l = leaves(n, 5);
            let mut range = CompactRange::new();
            for leaf in &l {
                range.append(*leaf);
            }
            prop_assert_eq!(range.root(), reference_root(&l));
        }
    }

    /// RFC 6962 MTH, written as the recursive definition.
    fn reference_root(d: &[Hash]) -> Hash {
        match d.len() {
            0 => EMPTY_ROOT,
            1 => d[0],
            n => {
                let k = split(n);
                node_hash(&reference_root(&d[..k]), &reference_root(&d[k..]))
            }
        }
    }
}

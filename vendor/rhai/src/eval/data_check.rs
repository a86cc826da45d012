//! Data size checks during evaluation.
#![cfg(not(feature = "unchecked"))]

use super::GlobalRuntimeState;
use crate::types::dynamic::Union;
use crate::{Dynamic, Engine, Position, RhaiResultOf, ERR};
use std::borrow::Borrow;
#[cfg(feature = "no_std")]
use std::prelude::v1::*;

/// Recursively calculate the sizes of an array.
///
/// Sizes returned are `(` [`Array`][crate::Array], [`Map`][crate::Map] and [`String`] `)`.
///
/// # Panics
///
/// Panics if any interior data is shared (should never happen).
#[cfg(not(feature = "no_index"))]
#[inline]
pub fn calc_array_sizes(array: &crate::Array) -> (usize, usize, usize) {
    let (mut ax, mut mx, mut sx) = (0, 0, 0);

    for value in array {
        ax += 1;

        match value.0 {
            Union::Array(ref a, ..) => {
                let (a, m, s) = calc_array_sizes(a);
                ax += a;
                mx += m;
                sx += s;
            }
            Union::Blob(ref a, ..) => ax += 1 + a.len(),
            #[cfg(not(feature = "no_object"))]
            Union::Map(ref m, ..) => {
                let (a, m, s) = calc_map_sizes(m);
                ax += a;
                mx += m;
                sx += s;
            }
            Union::Str(ref s, ..) => sx += s.len(),
            #[cfg(not(feature = "no_closure"))]
            Union::Shared(..) => {
                unreachable!("shared values discovered within data")
            }
            _ => (),
        }
    }

    (ax, mx, sx)
}
/// Recursively calculate the sizes of a map.
///
/// Sizes returned are `(` [`Array`][crate::Array], [`Map`][crate::Map] and [`String`] `)`.
///
/// # Panics
///
/// Panics if any interior data is shared (should never happen).
#[cfg(not(feature = "no_object"))]
#[inline]
pub fn calc_map_sizes(map: &crate::Map) -> (usize, usize, usize) {
    let (mut ax, mut mx, mut sx) = (0, 0, 0);

    for value in map.values() {
        mx += 1;

        match value.0 {
            #[cfg(not(feature = "no_index"))]
            Union::Array(ref a, ..) => {
                let (a, m, s) = calc_array_sizes(a);
                ax += a;
                mx += m;
                sx += s;
            }
            #[cfg(not(feature = "no_index"))]
            Union::Blob(ref a, ..) => ax += 1 + a.len(),
            Union::Map(ref m, ..) => {
                let (a, m, s) = calc_map_sizes(m);
                ax += a;
                mx += m;
                sx += s;
            }
            Union::Str(ref s, ..) => sx += s.len(),
            #[cfg(not(feature = "no_closure"))]
            Union::Shared(..) => {
                unreachable!("shared values discovered within data")
            }
            _ => (),
        }
    }

    (ax, mx, sx)
}

/// Recursively calculate the sizes of a value.
///
/// Sizes returned are `(` [`Array`][crate::Array], [`Map`][crate::Map] and [`String`] `)`.
///
/// # Panics
///
/// Panics if any interior data is shared (should never happen).
#[inline]
pub fn calc_data_sizes(value: &Dynamic, _top: bool) -> (usize, usize, usize) {
    match value.0 {
        #[cfg(not(feature = "no_index"))]
        Union::Array(ref arr, ..) => calc_array_sizes(arr),
        #[cfg(not(feature = "no_index"))]
        Union::Blob(ref blob, ..) => (blob.len(), 0, 0),
        #[cfg(not(feature = "no_object"))]
        Union::Map(ref map, ..) => calc_map_sizes(map),
        Union::Str(ref s, ..) => (0, 0, s.len()),
        #[cfg(not(feature = "no_closure"))]
        Union::Shared(..) if _top => calc_data_sizes(&value.read_lock::<Dynamic>().unwrap(), true),
        #[cfg(not(feature = "no_closure"))]
        Union::Shared(..) => {
            unreachable!("shared values discovered within data: {}", value)
        }
        _ => (0, 0, 0),
    }
}

// coworker patch: amortised size checks after a mutation (see PATCHED.md at the crate root).
//
// The top-level length of a container (array, BLOB, object map, string), read through a
// shared value's lock: O(1).
pub(crate) fn top_level_len(value: &Dynamic) -> Option<usize> {
    match value.0 {
        #[cfg(not(feature = "no_index"))]
        Union::Array(ref a, ..) => Some(a.len()),
        #[cfg(not(feature = "no_index"))]
        Union::Blob(ref b, ..) => Some(b.len()),
        #[cfg(not(feature = "no_object"))]
        Union::Map(ref m, ..) => Some(m.len()),
        Union::Str(ref s, ..) => Some(s.len()),
        #[cfg(not(feature = "no_closure"))]
        Union::Shared(..) => value
            .read_lock::<Dynamic>()
            .and_then(|inner| top_level_len(&inner)),
        _ => None,
    }
}

// coworker patch: the sizes of the containers (arrays, BLOB's, object maps) among `values`,
// nested ones included. Strings and other values count nothing: a string is reference-counted,
// so storing it again allocates a pointer, not its bytes. Each container walked here was just
// cloned or built to be passed, so the walk costs no more than that.
pub(crate) fn added_container_sizes<'a>(
    values: impl IntoIterator<Item = &'a Dynamic>,
) -> (usize, usize, usize) {
    values
        .into_iter()
        .map(|value| match value.0 {
            #[cfg(not(feature = "no_index"))]
            Union::Array(..) | Union::Blob(..) => calc_data_sizes(value, true),
            #[cfg(not(feature = "no_object"))]
            Union::Map(..) => calc_data_sizes(value, true),
            #[cfg(not(feature = "no_closure"))]
            Union::Shared(..) => value
                .read_lock::<Dynamic>()
                .map_or((0, 0, 0), |inner| added_container_sizes([&*inner])),
            _ => (0, 0, 0),
        })
        .fold((0, 0, 0), |(a, m, s), (a2, m2, s2)| {
            (
                a.saturating_add(a2),
                m.saturating_add(m2),
                s.saturating_add(s2),
            )
        })
}

impl Engine {
    /// coworker patch: check the size of `value` after it was mutated in place (a method
    /// call on it, an op-assignment, a property or index set), in amortised O(1) rather
    /// than by walking the whole value every time (which made `push` in a loop quadratic).
    ///
    /// `len_before` is its [`top_level_len`] before the mutation, `added` the
    /// [`added_container_sizes`] of the values the mutation was given.
    ///
    /// * The top-level length is compared with its limit at once (O(1)); strings and BLOB's
    ///   are checked in full (that is O(1) for them too).
    /// * The whole value is walked (the unpatched check) only when the top-level length
    ///   crossed a power of two upwards (so at most as many elements were added since the
    ///   last walk as the value held then), or when the containers added are large for the
    ///   value: so large that a container of that size in every top-level slot would pass a
    ///   limit (`added × length >= limit`). Between two walks each slot that was added or
    ///   replaced holds less than `limit / length`, so the total overshoots a limit at most
    ///   a small constant times before a walk catches it, and no memory is amplified.
    #[cfg(not(feature = "unchecked"))]
    pub(crate) fn check_data_size_after_mutation(
        &self,
        value: &Dynamic,
        len_before: Option<usize>,
        added: (usize, usize, usize),
        pos: Position,
    ) -> RhaiResultOf<()> {
        if !self.has_data_size_limit() {
            return Ok(());
        }
        #[cfg(not(feature = "no_closure"))]
        if value.is_shared() {
            let inner = value.read_lock::<Dynamic>().unwrap();
            return self.check_data_size_after_mutation(&inner, len_before, added, pos);
        }
        let (len, max) = match value.0 {
            #[cfg(not(feature = "no_index"))]
            Union::Array(ref a, ..) => (a.len(), self.limits.array_size),
            #[cfg(not(feature = "no_object"))]
            Union::Map(ref m, ..) => (m.len(), self.limits.map_size),
            // Strings and BLOB's: the full check is O(1).
            _ => return self.check_data_size(value, pos).map(|_| ()),
        };
        if max.map_or(false, |max| len > max.get()) {
            // Over at the top level already: the full check reports it.
            return self.check_data_size(value, pos).map(|_| ());
        }
        let bucket = |n: usize| usize::BITS - n.leading_zeros();
        let crossed = len_before.map_or(true, |before| bucket(len) > bucket(before));
        let large = |size: usize, max: Option<std::num::NonZeroUsize>| {
            size > 0 && max.map_or(false, |max| size.saturating_mul(len.max(1)) >= max.get())
        };
        if crossed || large(added.0, self.limits.array_size) || large(added.1, self.limits.map_size)
        {
            self.check_data_size(value, pos)?;
        }
        Ok(())
    }

    /// Raise an error if any data size exceeds limit.
    ///
    /// [`Position`] in [`EvalAltResult`][crate::EvalAltResult] is always [`NONE`][Position::NONE]
    /// and should be set afterwards.
    #[cfg(not(feature = "unchecked"))]
    pub(crate) fn throw_on_size(&self, (_arr, _map, s): (usize, usize, usize)) -> RhaiResultOf<()> {
        if self.limits.string_len.map_or(false, |max| s > max.get()) {
            return Err(
                ERR::ErrorDataTooLarge("Length of string".to_string(), Position::NONE).into(),
            );
        }

        #[cfg(not(feature = "no_index"))]
        if self.limits.array_size.map_or(false, |max| _arr > max.get()) {
            return Err(
                ERR::ErrorDataTooLarge("Size of array/BLOB".to_string(), Position::NONE).into(),
            );
        }

        #[cfg(not(feature = "no_object"))]
        if self.limits.map_size.map_or(false, |max| _map > max.get()) {
            return Err(
                ERR::ErrorDataTooLarge("Size of object map".to_string(), Position::NONE).into(),
            );
        }

        Ok(())
    }

    /// Check whether the size of a [`Dynamic`] is within limits.
    #[cfg(not(feature = "unchecked"))]
    #[inline]
    pub(crate) fn check_data_size<T: Borrow<Dynamic>>(
        &self,
        value: T,
        pos: Position,
    ) -> RhaiResultOf<T> {
        // If no data size limits, just return
        if !self.has_data_size_limit() {
            return Ok(value);
        }

        let sizes = calc_data_sizes(value.borrow(), true);

        self.throw_on_size(sizes)
            .map_err(|err| err.fill_position(pos))?;

        Ok(value)
    }

    /// Raise an error if the size of a [`Dynamic`] is out of limits (if any).
    ///
    /// Not available under `unchecked`.
    #[cfg(not(feature = "unchecked"))]
    #[inline(always)]
    pub fn ensure_data_size_within_limits(&self, value: &Dynamic) -> RhaiResultOf<()> {
        self.check_data_size(value, Position::NONE).map(|_| ())
    }

    /// Check if the number of operations stay within limit.
    #[inline(always)]
    pub(crate) fn track_operation(
        &self,
        global: &mut GlobalRuntimeState,
        pos: Position,
    ) -> RhaiResultOf<()> {
        let mut num_ops = None;

        let mut num_operations = || {
            *num_ops.get_or_insert_with(|| {
                // Increment operations count
                #[cfg(atomic_ops_count)]
                return global
                    .num_operations
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                    + 1;

                #[cfg(not(atomic_ops_count))]
                {
                    global.num_operations += 1;
                    return global.num_operations;
                }
            })
        };

        // Guard against too many operations
        #[cfg(not(feature = "unchecked"))]
        if self.max_operations() > 0 && num_operations() > self.max_operations() {
            return Err(ERR::ErrorTooManyOperations(pos).into());
        }

        if let Some(progress) = self.progress.as_ref() {
            return progress(num_operations())
                .map(|token| Err(ERR::ErrorTerminated(token, pos).into()))
                .unwrap_or(Ok(()));
        }

        Ok(())
    }
}

// singleflight.hpp — the C++ API of the singleflight engine.
//
// A header-only layer over the C ABI of singleflight.h: the library exports
// no C++ symbol, so any C++17 compiler and standard library can use it with
// the same libsingleflight.so as the C, Go, Rust and Python callers of the
// process (found through the same singleflight.pc).
//
//   sf::group g;                                   // a private group
//   auto out = g.run("user:42", [] { return load_user(42); });
//   const User &u = *out;                          // shared by every caller
//
// What it gives:
//   - sf::group, sf::keyed_group<K, V>, sf::single<V>: RAII handles (copy =
//     one more reference to the same group), named groups shared with the
//     other languages (sf::group::open).
//   - run(key, fn): fn runs once per flight on the leader's thread; every C++
//     caller of the flight receives the very same object as
//     std::shared_ptr<const V> (the engine carries it as a native value of the
//     C++ kind: no copy, no serialization), and whether it was shared. fn
//     returns a V (moved into a new shared object; move-only types too), or a
//     std::shared_ptr<V> (V is then its pointee: the pointer is shared as it
//     is, with no allocation; a null one fails the flight).
//     Callers in other languages receive the value's byte form (sf::codec);
//     a C++ caller following a leader of another language decodes the bytes.
//   - An exception thrown by fn is rethrown in every C++ caller as the same
//     exception object; other languages see SF_EPANIC with its what().
//     The object is freed when the last handler of it ends, by the standard
//     library's own refcount; under ThreadSanitizer with an uninstrumented
//     libstdc++ that free looks like a race with other handlers' reads
//     unless those threads synchronize before their handlers end.
//   - try_run(key, fn): the same call returning sf::result<V>, no throw.
//   - Deadlines (any std::chrono duration or time point) and, in C++20,
//     std::stop_token; a caller who gives up leaves, the flight goes on.
//   - run_async(key, fn, executor): a std::future; in C++20 co_await
//     g.async(key, fn, executor): a coroutine suspended without a thread,
//     resumed on the executor through the engine's subscription.
//   - sf::group::open_fleet(name, sf::fleet_options{...}): a group whose
//     flights are shared by every process on the same Redis server (the C
//     header's section 6), used like any other group; the work reads its
//     fencing token with sf::fence_token().
//
// C++20 parts are compiled when the library provides them: std::span views
// (__cpp_lib_span), std::stop_token (__cpp_lib_jthread), coroutines
// (__cpp_impl_coroutine and __cpp_lib_coroutine).
#ifndef SINGLEFLIGHT_HPP
#define SINGLEFLIGHT_HPP

#include <singleflight_binding.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#if __has_include(<version>)
#include <version>
#endif
#if defined(__cpp_lib_span)
#include <span>
#define SF_HPP_HAS_SPAN 1
#endif
#if defined(__cpp_lib_jthread)
#include <stop_token>
#define SF_HPP_HAS_STOP_TOKEN 1
#endif
#if defined(__cpp_impl_coroutine) && defined(__cpp_lib_coroutine)
#include <coroutine>
#define SF_HPP_HAS_COROUTINES 1
#endif

namespace sf {

// ===========================================================================
// Bytes
// ===========================================================================

/// An immutable, refcounted buffer: an RAII handle of one sf_bytes
/// reference. Copying takes one more reference to the same memory (never a
/// copy of the data); moving transfers it. A default-constructed (or
/// moved-from) bytes holds nothing and reads as empty.
class bytes {
 public:
  /// Holds nothing; reads as empty.
  bytes() noexcept = default;

  /// A copy of `data` in a new buffer. Throws std::bad_alloc.
  explicit bytes(std::string_view data) : b_(sf_bytes_new(data.data(), data.size())) {
    if (!b_) throw std::bad_alloc();
  }

  /// Takes over one reference the caller owns (NULL: holds nothing).
  static bytes adopt(sf_bytes *owned) noexcept { return bytes(owned); }
  /// Takes a reference of its own to `borrowed` (NULL: holds nothing).
  static bytes retain(sf_bytes *borrowed) noexcept { return bytes(sf_bytes_retain(borrowed)); }

  /// Adopts the memory of a std::string or std::vector of a byte-sized type
  /// without copying it: the container moves into the buffer and is freed
  /// with its last reference. Throws std::bad_alloc.
  static bytes adopt(std::string &&s) { return adopt_container(std::move(s)); }
  template <class T, class A,
            class = std::enable_if_t<sizeof(T) == 1 && std::is_trivially_copyable_v<T>>>
  static bytes adopt(std::vector<T, A> &&v) {
    return adopt_container(std::move(v));
  }

  bytes(const bytes &o) noexcept : b_(sf_bytes_retain(o.b_)) {}
  bytes(bytes &&o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  bytes &operator=(bytes o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~bytes() {
    if (b_) sf_bytes_release(b_);  // no call into the library for an empty handle
  }

  /// The first byte (valid while this handle holds the buffer); a valid
  /// pointer for an empty buffer, NULL when nothing is held.
  const char *data() const noexcept { return static_cast<const char *>(sf_bytes_data(b_)); }
  /// The length in bytes; 0 when nothing is held.
  std::size_t size() const noexcept { return sf_bytes_len(b_); }
  /// True when the length is 0 (or nothing is held).
  bool empty() const noexcept { return size() == 0; }
  /// The bytes as text, borrowed from this handle.
  std::string_view view() const noexcept {
    return size() ? std::string_view(data(), size()) : std::string_view();
  }
  /// A copy of the bytes as a std::string.
  std::string str() const { return std::string(view()); }
#ifdef SF_HPP_HAS_SPAN
  /// The bytes as std::span<const std::byte>, borrowed from this handle.
  std::span<const std::byte> span() const noexcept {
    return {reinterpret_cast<const std::byte *>(data()), size()};
  }
#endif
  /// The handle, borrowed (NULL when nothing is held).
  sf_bytes *get() const noexcept { return b_; }
  /// Gives the reference up to the caller, who must release it.
  sf_bytes *release() noexcept { return std::exchange(b_, nullptr); }
  /// True when a buffer is held.
  explicit operator bool() const noexcept { return b_ != nullptr; }

  /// Equal contents (not identity: compare get() for that).
  friend bool operator==(const bytes &a, const bytes &b) noexcept { return a.view() == b.view(); }
  friend bool operator!=(const bytes &a, const bytes &b) noexcept { return !(a == b); }

 private:
  explicit bytes(sf_bytes *owned) noexcept : b_(owned) {}
  template <class C>
  static bytes adopt_container(C &&c) {
    auto *held = new C(std::move(c));
    sf_bytes *b = sf_bytes_wrap(
        const_cast<void *>(static_cast<const void *>(held->data())), held->size(),
        [](void *ctx) { delete static_cast<C *>(ctx); }, held);
    // On failure sf_bytes_wrap has already run the release (freed `held`).
    if (!b) throw std::bad_alloc();
    return bytes(b);
  }
  sf_bytes *b_ = nullptr;
};

// ===========================================================================
// Errors
// ===========================================================================

/// A failure reported by the engine or by a leader in another language:
/// status() is its sf_status, what() a readable message. The work's own C++
/// exceptions are never wrapped: they reach every C++ caller as themselves.
class error : public std::runtime_error {
 public:
  /// `message` empty: sf_status_str(status).
  error(sf_status status, const std::string &message)
      : std::runtime_error(message.empty() ? std::string(sf_status_str(status)) : message),
        status_(status) {}
  explicit error(sf_status status) : error(status, std::string()) {}
  /// The status: SF_EINVAL, SF_ENOMEM, SF_EDEADLK, SF_ETIMEDOUT,
  /// SF_ECANCELED, SF_ENOBYTES, or SF_EWORK / SF_EPANIC for the subclasses.
  sf_status status() const noexcept { return status_; }

 private:
  sf_status status_;
};

/// A leader in another language (or C) ended its work with SF_EWORK:
/// bytes() holds its error bytes, what() them as text. A C++ work function
/// may throw it too, to hand other languages SF_EWORK with these bytes.
class work_error : public error {
 public:
  explicit work_error(sf::bytes error_bytes)
      : error(SF_EWORK, error_bytes.empty() ? std::string() : error_bytes.str()),
        bytes_(std::move(error_bytes)) {}
  /// The error bytes (empty when the leader gave none).
  const sf::bytes &bytes() const noexcept { return bytes_; }

 private:
  sf::bytes bytes_;
};

/// A leader in another language (or C) aborted (Rust panic, Go panic,
/// Python exception, a C work returning SF_EPANIC): bytes() holds its
/// message, what() the same as text.
class panic_error : public error {
 public:
  explicit panic_error(sf::bytes message)
      : error(SF_EPANIC, message.empty() ? std::string() : message.str()),
        bytes_(std::move(message)) {}
  /// The message bytes.
  const sf::bytes &bytes() const noexcept { return bytes_; }

 private:
  sf::bytes bytes_;
};

// ===========================================================================
// Customization points
// ===========================================================================

/// Selects from_bytes overloads found by argument-dependent lookup:
/// `V from_bytes(sf::tag<V>, const sf::bytes &)` in V's namespace.
template <class V>
struct tag {};

namespace adl {
// Poison pills: chosen only when no user overload exists, then ill-formed.
void to_bytes(...) = delete;
void from_bytes(...) = delete;
void to_key(...) = delete;

template <class V, class = void>
struct has_to_bytes : std::false_type {};
template <class V>
struct has_to_bytes<V, std::void_t<decltype(sf::bytes(to_bytes(std::declval<const V &>())))>>
    : std::true_type {};
template <class V, class = void>
struct has_from_bytes : std::false_type {};
template <class V>
struct has_from_bytes<
    V, std::void_t<decltype(V(from_bytes(tag<V>{}, std::declval<const sf::bytes &>())))>>
    : std::true_type {};
template <class K, class = void>
struct has_to_key : std::false_type {};
template <class K>
struct has_to_key<K, std::void_t<decltype(std::string_view(to_key(std::declval<const K &>())))>>
    : std::true_type {};

template <class V>
sf::bytes call_to_bytes(const V &v) {
  return sf::bytes(to_bytes(v));
}
template <class V>
V call_from_bytes(const sf::bytes &b) {
  return from_bytes(tag<V>{}, b);
}
template <class K>
auto call_to_key(const K &k) {
  return to_key(k);
}
}  // namespace adl

/// The byte form of values of type V, for callers in other languages and
/// for C++ callers that follow a leader of another language.
///   static sf::bytes to_bytes(const V &);   // V -> bytes
///   static V from_bytes(const sf::bytes &); // bytes -> V
/// Either may be missing: without to_bytes, callers in other languages get
/// SF_ENOBYTES; without from_bytes, a C++ caller following a leader of
/// another language gets sf::error(SF_ENOBYTES). Given for std::string,
/// std::vector of char, signed/unsigned char and std::byte, and sf::bytes.
/// For a type of your own, either specialize sf::codec<V> or declare
/// `to_bytes(const V &)` (returning sf::bytes or std::string) and
/// `V from_bytes(sf::tag<V>, const sf::bytes &)` in V's namespace.
template <class V, class = void>
struct codec {
  template <class W = V, class = std::enable_if_t<adl::has_to_bytes<W>::value>>
  static sf::bytes to_bytes(const V &v) {
    return adl::call_to_bytes(v);
  }
  template <class W = V, class = std::enable_if_t<adl::has_from_bytes<W>::value>>
  static V from_bytes(const sf::bytes &b) {
    return adl::call_from_bytes<V>(b);
  }
};

template <>
struct codec<std::string> {
  static sf::bytes to_bytes(const std::string &v) { return sf::bytes(std::string_view(v)); }
  static std::string from_bytes(const sf::bytes &b) { return b.str(); }
};

template <class T, class A>
struct codec<std::vector<T, A>,
             std::enable_if_t<std::is_same_v<T, char> || std::is_same_v<T, unsigned char> ||
                              std::is_same_v<T, signed char> || std::is_same_v<T, std::byte>>> {
  static sf::bytes to_bytes(const std::vector<T, A> &v) {
    return sf::bytes(std::string_view(reinterpret_cast<const char *>(v.data()), v.size()));
  }
  static std::vector<T, A> from_bytes(const sf::bytes &b) {
    auto *p = reinterpret_cast<const T *>(b.data());
    return std::vector<T, A>(p, p + b.size());
  }
};

template <>
struct codec<sf::bytes> {
  static sf::bytes to_bytes(const sf::bytes &v) { return v; }
  static sf::bytes from_bytes(const sf::bytes &b) { return b; }
};

/// True when V has a byte form for other languages (codec<V>::to_bytes).
template <class V, class = void>
struct has_byte_form : std::false_type {};
template <class V>
struct has_byte_form<V, std::void_t<decltype(codec<V>::to_bytes(std::declval<const V &>()))>>
    : std::true_type {};

/// True when a V can be made from bytes (codec<V>::from_bytes).
template <class V, class = void>
struct has_from_bytes : std::false_type {};
template <class V>
struct has_from_bytes<
    V, std::void_t<decltype(codec<V>::from_bytes(std::declval<const sf::bytes &>()))>>
    : std::true_type {};

/// The decimal text of an integer key, held inline.
class integer_key {
 public:
  template <class I>
  explicit integer_key(I v) noexcept {
    len_ = static_cast<std::size_t>(std::to_chars(buf_, buf_ + sizeof buf_, v).ptr - buf_);
  }
  const char *data() const noexcept { return buf_; }
  std::size_t size() const noexcept { return len_; }

 private:
  char buf_[24];  // the longest 64-bit integer and its sign fit
  std::size_t len_;
};

/// How a key of type K becomes the bytes the engine keys flights by:
/// `static auto encode(const K &)` returns an object with data() and size()
/// that lives for the call. Strings are their own bytes; integers (and
/// enums, as their underlying integer) are their decimal text, so a caller
/// in another language passing "42" joins the flight of 42. For a type of
/// your own, specialize sf::key_traits<K> or declare `to_key(const K &)` in
/// K's namespace, returning a std::string (or anything a std::string_view
/// can be made from that owns its characters).
template <class K, class = void>
struct key_traits {
  template <class W = K, class = std::enable_if_t<adl::has_to_key<W>::value>>
  static auto encode(const K &k) {
    return adl::call_to_key(k);
  }
};
template <class K>
struct key_traits<K, std::enable_if_t<std::is_convertible_v<const K &, std::string_view>>> {
  static std::string_view encode(const K &k) noexcept { return std::string_view(k); }
};
template <class K>
struct key_traits<K, std::enable_if_t<std::is_integral_v<K> && !std::is_same_v<K, bool>>> {
  static integer_key encode(K k) noexcept { return integer_key(k); }
};
template <class K>
struct key_traits<K, std::enable_if_t<std::is_enum_v<K>>> {
  static integer_key encode(K k) noexcept {
    return integer_key(static_cast<std::underlying_type_t<K>>(k));
  }
};

// ===========================================================================
// Outcomes and results
// ===========================================================================

/// What a successful call hands back: the flight's value, the same object
/// for every C++ caller of the flight, and whether the outcome went to more
/// than one caller.
template <class V>
struct outcome {
  std::shared_ptr<const V> value;  ///< never null in an outcome returned by run()
  bool shared = false;             ///< true when more than one caller received it

  const V &operator*() const noexcept { return *value; }
  const V *operator->() const noexcept { return value.get(); }
};

/// An outcome or the failure in its place, without throwing: what
/// try_run() returns. ok() tells which. A failure is either the work's own
/// C++ exception (exception(), status SF_EPANIC, or SF_EWORK for an
/// sf::work_error) or a status of the engine or of a leader in another
/// language (status(), error_bytes()).
template <class V>
class result {
 public:
  /// A failure with `status` (not SF_OK) and its message bytes.
  static result failure(sf_status status, sf::bytes error_bytes = {},
                        std::exception_ptr ex = nullptr) {
    result r;
    r.status_ = status;
    r.error_ = std::move(error_bytes);
    r.exception_ = std::move(ex);
    return r;
  }
  /// A success.
  static result success(std::shared_ptr<const V> value, bool shared) noexcept {
    result r;
    r.status_ = SF_OK;
    r.value_ = std::move(value);
    r.shared_ = shared;
    return r;
  }

  /// True for a value, false for a failure.
  bool ok() const noexcept { return status_ == SF_OK; }
  explicit operator bool() const noexcept { return ok(); }
  /// SF_OK, or the failure's status.
  sf_status status() const noexcept { return status_; }
  /// Whether the outcome went to more than one caller (successes only).
  bool shared() const noexcept { return shared_; }
  /// The value (null for a failure).
  const std::shared_ptr<const V> &value_ptr() const noexcept { return value_; }
  /// The value; the behaviour is undefined for a failure (check ok()).
  const V &operator*() const noexcept { return *value_; }
  const V *operator->() const noexcept { return value_.get(); }
  /// The failure's bytes: a leader's error bytes or message, the engine's
  /// message, the C++ exception's what(); empty for a success.
  const sf::bytes &error_bytes() const noexcept { return error_; }
  /// The work's own C++ exception, or null.
  const std::exception_ptr &exception() const noexcept { return exception_; }

  /// Throws the failure: the work's exception as itself, an SF_EWORK of
  /// another language as sf::work_error, SF_EPANIC as sf::panic_error, any
  /// other status as sf::error. Does nothing for a success.
  void rethrow() const {
    if (ok()) return;
    if (exception_) std::rethrow_exception(exception_);
    if (status_ == SF_EWORK) throw work_error(error_);
    if (status_ == SF_EPANIC) throw panic_error(error_);
    throw error(status_, error_.str());
  }
  /// The outcome, or throws as rethrow() does.
  outcome<V> get() const & {
    rethrow();
    return {value_, shared_};
  }
  outcome<V> get() && {
    rethrow();
    return {std::move(value_), shared_};
  }

 private:
  result() = default;
  std::shared_ptr<const V> value_;
  bool shared_ = false;
  sf_status status_ = SF_EINVAL;
  sf::bytes error_;
  std::exception_ptr exception_;
};

// ===========================================================================
// Call options: deadlines and stop tokens
// ===========================================================================

/// How long a caller waits for a flight another caller leads. A deadline
/// bounds the wait of a follower (the leader of a blocking run() runs the
/// work on its own thread to its end); past it the follower leaves with
/// sf::error(SF_ETIMEDOUT) and the flight goes on for the others. A stop
/// token (C++20) ends the wait with sf::error(SF_ECANCELED) when a stop is
/// requested. Made implicitly from a std::chrono duration, a time point of
/// any clock, or a std::stop_token.
class options {
 public:
  using clock = std::chrono::steady_clock;
  /// No deadline, no stop token.
  options() noexcept = default;
  /// Wait at most `d` from now.
  template <class Rep, class Period>
  options(std::chrono::duration<Rep, Period> d) : deadline_(from_now(d)) {}  // NOLINT: implicit
  /// Wait until `t` (a time point of any clock).
  template <class Clock, class Dur>
  options(std::chrono::time_point<Clock, Dur> t)
      : deadline_(from_now(t - Clock::now())) {}  // NOLINT
#ifdef SF_HPP_HAS_STOP_TOKEN
  /// End the wait when a stop is requested on `stop`.
  options(std::stop_token stop) noexcept : stop_(std::move(stop)) {}  // NOLINT: implicit
  /// A deadline (a duration or time point through `options`) and a stop token.
  options(options deadline, std::stop_token stop)
      : deadline_(deadline.deadline_), stop_(std::move(stop)) {}
  /// The stop token (empty when none).
  const std::stop_token &stop() const noexcept { return stop_; }
#endif
  /// The steady-clock deadline, if any.
  const std::optional<clock::time_point> &deadline() const noexcept { return deadline_; }

  /// The timeout for sf_wait(): -1 without a deadline, else the remaining
  /// nanoseconds (0 once the deadline has passed: a poll).
  std::int64_t timeout_ns() const noexcept {
    if (!deadline_) return -1;
    auto left =
        std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline_ - clock::now()).count();
    return left > 0 ? static_cast<std::int64_t>(left) : 0;
  }

 private:
  template <class D>
  static clock::time_point from_now(D d) {
    auto now = clock::now();
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(d);
    // Clamp a huge duration so that the sum cannot overflow.
    auto room =
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::time_point::max() - now);
    return left >= room ? clock::time_point::max()
                        : now + std::chrono::duration_cast<clock::duration>(left);
  }
  std::optional<clock::time_point> deadline_;
#ifdef SF_HPP_HAS_STOP_TOKEN
  std::stop_token stop_;
#endif
};

// ===========================================================================
// Executors
// ===========================================================================

/// An executor that starts a new std::thread for each task (detached). Any
/// callable taking a std::function<void()> serves as an executor: a thread
/// pool's post, an event loop's dispatch.
struct thread_executor {
  void operator()(std::function<void()> task) const { std::thread(std::move(task)).detach(); }
};

// ===========================================================================
// Fleet groups: options and the fencing token
// ===========================================================================

/// The options of a fleet group (sf_fleet_options, the C header's section
/// 6); every empty string or zero duration means the engine's default.
/// Make one and set the fields you need:
///   sf::fleet_options o;
///   o.url = "redis://cache:6379/0";
///   o.lease = std::chrono::seconds(2);
///   sf::group g = sf::group::open_fleet("users", o);
struct fleet_options {
  /// The server: "redis://[[user]:password@]host[:port][/db]",
  /// "unix:///path/to/socket[?db=N]" or a socket path starting with '/'.
  /// Empty: the SF_REDIS_URL environment variable, else
  /// "redis://127.0.0.1:6379".
  std::string url;
  /// The first part of every Redis key and channel name; empty: "sf". No
  /// '{', '}' or ':'.
  std::string key_prefix;
  /// A leader's lease, renewed while the work runs; a crashed leader is
  /// taken over after it. Zero: 5 s.
  std::chrono::milliseconds lease{0};
  /// The largest value (or error) published; larger ones make the other
  /// processes run the work themselves. Zero: 1 MiB.
  std::uint32_t max_value_bytes = 0;
  /// How long a connection attempt may take. Zero: 1 s.
  std::chrono::milliseconds connect_timeout{0};
  /// A reply later than this makes the group local for a while (the
  /// breaker). Zero: 1 s.
  std::chrono::milliseconds command_timeout{0};
  /// Keep the last outcome of a key this long for callers who come after
  /// it. Zero: nothing is kept.
  std::chrono::milliseconds linger{0};
  /// How long the breaker keeps the group local before it tries the server
  /// again. Zero: 1 s.
  std::chrono::milliseconds cooldown{0};
};

namespace detail {
// The work ticket of the C++ work running on this thread (run()'s leader,
// an asynchronous leader's task), for fence_token(); null elsewhere.
inline thread_local const sf_ticket *running_work = nullptr;

// Marks `work` as this thread's running work for its lifetime.
class running_scope {
 public:
  explicit running_scope(const sf_ticket *work) noexcept : below_(running_work) {
    running_work = work;
  }
  ~running_scope() { running_work = below_; }
  running_scope(const running_scope &) = delete;
  running_scope &operator=(const running_scope &) = delete;

 private:
  const sf_ticket *below_;
};
}  // namespace detail

/// The fencing token of the flight whose work runs on this thread: call it
/// from fn, while it runs (run(), try_run(), run_async() and co_await's
/// work all set it; a thread fn starts itself does not). In a fleet group
/// the server hands every new leader of a key a larger token, so a store
/// that remembers the largest token it saw can refuse the writes of a
/// leader that stalled past its lease and was taken over. 0 for a local
/// flight (a group that is not a fleet group, a fleet group running
/// locally because its server is unreachable) and outside any work; inside
/// the work function of a C sf_do() it is that flight's token.
inline std::uint64_t fence_token() noexcept {
  std::uint64_t token = 0;
  sf_fence_token(detail::running_work, &token);  // NULL: the engine's sf_do() work, if any
  return token;
}

// ===========================================================================
// The machinery (not part of the API)
// ===========================================================================

namespace detail {

// The native value of a C++ flight: the value (type-erased, with its type)
// or the work's exception. Shared by the engine's native slot and, for a
// value whose bytes point into it, by those bytes.
struct box {
  std::atomic<int> refs{1};
  const std::type_info *type = nullptr;  // null when `error` is set
  std::shared_ptr<const void> value;
  std::exception_ptr error;
};

inline void box_release(void *p) noexcept {
  auto *b = static_cast<box *>(p);
  if (b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete b;
}

// The C++ kind. An inline variable: one address for every translation unit
// and every shared object of the process that sees this header with default
// visibility, so C++ callers anywhere in the process share values.
inline const sf_native_kind cpp_kind = {"c++", &box_release};

template <class V>
struct zero_copy : std::false_type {};
template <>
struct zero_copy<std::string> : std::true_type {};
template <class T, class A>
struct zero_copy<std::vector<T, A>>
    : std::bool_constant<std::is_same_v<T, char> || std::is_same_v<T, unsigned char> ||
                         std::is_same_v<T, signed char> || std::is_same_v<T, std::byte>> {};

// The byte form of the leader's value for callers of other languages:
// strings and byte vectors lend their own memory (held by the box), other
// types go through their codec. Null when V has no byte form or it failed.
template <class V>
sf_bytes *byte_form(const V &v, box *b) noexcept {
  if constexpr (zero_copy<V>::value) {
    b->refs.fetch_add(1, std::memory_order_relaxed);
    return sf_bytes_wrap(const_cast<void *>(static_cast<const void *>(v.data())), v.size(),
                         &box_release, b);
  } else if constexpr (has_byte_form<V>::value) {
    try {
      return codec<V>::to_bytes(v).release();
    } catch (...) {
      return nullptr;
    }
  } else {
    (void)v;
    (void)b;
    return nullptr;
  }
}

inline sf_bytes *message_bytes(const char *msg) noexcept {
  return sf_bytes_new(msg, std::strlen(msg));
}

inline sf_bytes *exception_message(const std::exception_ptr &ep) noexcept {
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception &e) {
    return message_bytes(e.what());
  } catch (...) {
    return message_bytes("a C++ exception that is not a std::exception");
  }
}

inline std::string type_name_message(const std::type_info &want, const std::type_info *have) {
  std::string m = "the leader's value is a C++ ";
  m += have ? have->name() : "(unknown type)";
  m += " with no byte form, not the ";
  m += want.name();
  m += " this caller asked for";
  return m;
}

// Turns what sf_wait_native() handed over into a result. Takes over the
// references in `r`; reads `native` (borrowed: the ticket is still held).
template <class V>
result<V> read(sf_status st, sf_result &r, void *native) {
  sf::bytes value = sf::bytes::adopt(std::exchange(r.value, nullptr));
  sf::bytes err = sf::bytes::adopt(std::exchange(r.error, nullptr));
  bool shared = r.shared != 0;
  if (native) {
    auto *b = static_cast<box *>(native);
    if (b->error) {
      return result<V>::failure(st == SF_OK ? SF_EPANIC : st, std::move(err), b->error);
    }
    if (b->type && *b->type == typeid(V) && st == SF_OK) {
      return result<V>::success(std::static_pointer_cast<const V>(b->value), shared);
    }
    if (st == SF_OK && !value) {
      return result<V>::failure(SF_ENOBYTES, sf::bytes(type_name_message(typeid(V), b->type)));
    }
  }
  if (st != SF_OK) return result<V>::failure(st, std::move(err));
  if constexpr (has_from_bytes<V>::value) {
    try {
      return result<V>::success(std::make_shared<const V>(codec<V>::from_bytes(value)), shared);
    } catch (...) {
      std::exception_ptr ep = std::current_exception();
      return result<V>::failure(SF_EPANIC, sf::bytes::adopt(exception_message(ep)), ep);
    }
  } else {
    std::string m = "the leader's value came as bytes and ";
    m += typeid(V).name();
    m += " has no from_bytes (sf::codec)";
    return result<V>::failure(SF_ENOBYTES, sf::bytes(m));
  }
}

// What the work produced: the value, or the exception it threw.
template <class V>
struct produced {
  std::shared_ptr<const V> value;
  std::exception_ptr error;
  sf_status status = SF_OK;
  sf_bytes *error_bytes() const noexcept {
    if (!error) return nullptr;
    if (status == SF_EWORK) {
      try {
        std::rethrow_exception(error);
      } catch (const work_error &e) {
        return sf_bytes_retain(e.bytes().get());
      } catch (...) {
      }
    }
    return exception_message(error);
  }
};

template <class T>
struct shared_pointee {
  using type = void;
};
template <class T>
struct shared_pointee<std::shared_ptr<T>> {
  using type = std::remove_const_t<T>;
};

// The value of what fn returned: a std::shared_ptr of V is the value as it
// is (shared, not copied); anything else is moved into a new shared object.
template <class V, class R>
std::shared_ptr<const V> make_value(R &&r) {
  if constexpr (std::is_same_v<typename shared_pointee<std::decay_t<R>>::type, V>) {
    if (!r) throw std::invalid_argument("sf: the work returned a null std::shared_ptr");
    return std::shared_ptr<const V>(std::forward<R>(r));
  } else {
    return std::make_shared<const V>(std::forward<R>(r));
  }
}

template <class V, class F>
produced<V> produce(F &fn) noexcept {
  produced<V> p;
  try {
    p.value = make_value<V>(std::invoke(fn));
  } catch (const work_error &) {
    p.error = std::current_exception();
    p.status = SF_EWORK;
  } catch (...) {
    p.error = std::current_exception();
    p.status = SF_EPANIC;
  }
  return p;
}

// produce() with `work` as this thread's running work (fence_token()).
template <class V, class F>
produced<V> produce_as(const sf_ticket *work, F &fn) noexcept {
  running_scope running(work);
  return produce<V>(fn);
}

// The native value, value bytes and error bytes of what the work produced,
// for the other callers of the flight; returns the status to complete it
// with: the work's, or SF_EPANIC ("out of memory") when the native value
// could not be made.
template <class V>
sf_status package(const produced<V> &p, sf_bytes **value, sf_bytes **error,
                  void **native) noexcept {
  *value = nullptr;
  *error = nullptr;
  box *b = new (std::nothrow) box;
  *native = b;
  if (!b) {
    *error = message_bytes("out of memory: the C++ leader could not share its outcome");
    return SF_EPANIC;
  }
  if (p.error) {
    b->error = p.error;
    *error = p.error_bytes();
  } else {
    b->type = &typeid(V);
    b->value = p.value;
    *value = byte_form<V>(*p.value, b);
  }
  return p.status;
}

template <class V>
result<V> own_result(produced<V> &&p, bool shared, sf::bytes error_bytes = {}) {
  if (p.error) {
    if (!error_bytes) error_bytes = sf::bytes::adopt(p.error_bytes());
    return result<V>::failure(p.status, std::move(error_bytes), std::move(p.error));
  }
  return result<V>::success(std::move(p.value), shared);
}

// The leader's part of a blocking call: run the work here, then end the
// flight alone (nobody else joined: no native value, no bytes are built)
// or hand the outcome to everyone.
template <class V, class F>
result<V> lead(sf_ticket *wait, sf_ticket *work, F &fn) {
  produced<V> p = produce_as<V>(work, fn);
  int shared = 0;
  if (sf_finish_alone(wait, work, p.status, &shared)) return own_result(std::move(p), shared != 0);
  sf_bytes *value, *err;
  void *native;
  sf_status st = package(p, &value, &err, &native);
  sf_result r{nullptr, nullptr, 0};
  sf_finish(wait, work, st, value, err, native ? &cpp_kind : nullptr, native, &r);
  sf_bytes_release(r.value);
  sf::bytes eb = sf::bytes::adopt(r.error);
  return own_result(std::move(p), r.shared != 0, std::move(eb));
}

// A follower's blocking wait: with the options' deadline and stop token;
// leaves its ticket. SF_EHANDOFF: the caller joins again.
template <class V>
result<V> follow(sf_group *g, sf_ticket *wait, const options &o) {
  sf_result r{nullptr, nullptr, 0};
  void *native = nullptr;
  sf_status st;
  {
#ifdef SF_HPP_HAS_STOP_TOKEN
    struct canceler {
      sf_ticket *t;
      void operator()() const noexcept { sf_cancel(t); }
    };
    std::optional<std::stop_callback<canceler>> cb;
    if (o.stop().stop_possible()) cb.emplace(o.stop(), canceler{wait});
#endif
    std::int64_t timeout = o.timeout_ns();
    st = sf_wait_native(wait, timeout, &cpp_kind, &r, &native);
    // A deadline already past makes the wait a poll, which the engine does
    // not count as a timeout: the binding ended this wait, so it counts it.
    if (st == SF_ETIMEDOUT && timeout == 0) sf_group_count_giveup(g, SF_ETIMEDOUT);
  }
  result<V> out = read<V>(st, r, native);
  sf_leave(wait);
  return out;
}

struct encoded_key {
  const void *data;
  std::size_t size;
};

template <class V, class F>
result<V> run_blocking(sf_group *g, encoded_key key, F &fn, const options &o) {
  for (;;) {
    sf_ticket *wait = nullptr, *work = nullptr;
    sf_status st = sf_join(g, key.data, key.size, SF_JOIN_RUN_HERE, &wait, &work);
    if (st != SF_OK) return result<V>::failure(st);
    if (work) return lead<V>(wait, work, fn);
    result<V> out = follow<V>(g, wait, o);
    if (out.status() != SF_EHANDOFF) return out;
  }
}

// One asynchronous call: a caller's wait ticket, resumed through the
// engine's subscription on the executor, and, when the caller leads, the
// work, posted to the executor with the work ticket. `Done` receives the
// result on the executor. The op keeps itself alive while it holds a ticket.
template <class V, class F, class Exec, class Done>
class async_op : public std::enable_shared_from_this<async_op<V, F, Exec, Done>> {
 public:
  async_op(sf_group *g, std::string key, F fn, Exec exec, options o, Done done)
      : group_(sf_group_retain(g)),
        key_(std::move(key)),
        fn_(std::move(fn)),
        exec_(std::move(exec)),
        opts_(std::move(o)),
        done_(std::move(done)) {}
  ~async_op() { sf_group_release(group_); }

  // Joins on the calling thread. Failures to join end the call at once.
  void start() {
    self_ = this->shared_from_this();
#ifdef SF_HPP_HAS_STOP_TOKEN
    if (opts_.stop().stop_possible()) stop_cb_.emplace(opts_.stop(), stopper{this});
#endif
    join();
  }

 private:
  enum class state { idle, subscribing, fired_early, waiting, claimed };

  struct stopper {
    async_op *op;
    void operator()() const noexcept { op->on_stop(); }
  };

  // Owns a work ticket until the work completes; leaving it uncompleted
  // (an executor that drops the task) hands the flight off.
  struct work_holder {
    sf_ticket *t;
    explicit work_holder(sf_ticket *work) noexcept : t(work) {}
    work_holder(work_holder &&o) noexcept : t(std::exchange(o.t, nullptr)) {}
    work_holder(const work_holder &) = delete;
    ~work_holder() { sf_leave(t); }
  };

  void join() {
    sf_ticket *wait = nullptr, *work = nullptr;
    sf_status st = sf_join(group_, key_.data(), key_.size(), 0, &wait, &work);
    if (st != SF_OK) return finish(result<V>::failure(st));
    wait_ = wait;
    if (work) post_work(work);
    subscribe();
  }

  void post_work(sf_ticket *work) {
    auto self = this->shared_from_this();
    auto holder = std::make_shared<work_holder>(work);
    auto task = [self, holder]() mutable {
      self->do_work(holder->t);
      holder->t = nullptr;
    };
    try {
      exec_(std::function<void()>(std::move(task)));
    } catch (...) {
      // The executor refused the task: the work runs here instead.
      if (holder->t) {
        do_work(holder->t);
        holder->t = nullptr;
      }
    }
  }

  void do_work(sf_ticket *work) noexcept {
    produced<V> p = produce_as<V>(work, *fn_);
    sf_bytes *value, *err;
    void *native;
    sf_status st = package(p, &value, &err, &native);
    sf_complete_native(work, st, value, err, native ? &cpp_kind : nullptr, native);
    sf_leave(work);
  }

  void subscribe() {
    bool stopped;
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopped = stop_requested_;
      state_ = stopped ? state::claimed : state::subscribing;
    }
    if (stopped) return post([this] { cancelled(); });
    sf_subscribe(wait_, &async_op::notified, this);
    bool ready = false, stop = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (state_ == state::fired_early) {
        state_ = state::claimed;
        ready = true;
      } else if (stop_requested_) {
        state_ = state::claimed;
        stop = true;
      } else {
        state_ = state::waiting;
      }
    }
    if (ready) post([this] { ready_now(); });
    if (stop) post([this] { cancelled(); });
  }

  // The engine's subscription: no engine lock is held, and nothing but
  // scheduling happens here.
  static void notified(void *ud) noexcept {
    auto *op = static_cast<async_op *>(ud);
    bool go = false;
    {
      std::lock_guard<std::mutex> lk(op->mu_);
      if (op->state_ == state::subscribing) {
        op->state_ = state::fired_early;
      } else if (op->state_ == state::waiting) {
        op->state_ = state::claimed;
        go = true;
      }
    }
    if (go) op->post([op] { op->ready_now(); });
  }

  void on_stop() noexcept {
    bool go = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_requested_ = true;
      if (state_ == state::waiting) {
        state_ = state::claimed;
        go = true;
      }
    }
    if (go) post([this] { cancelled(); });
  }

  // Schedules `f` on the executor (the op stays alive until it ran); if
  // the executor refuses, runs it here (no engine lock is held anywhere
  // this is called from).
  template <class G>
  void post(G f) noexcept {
    auto self = self_;
    try {
      exec_(std::function<void()>([self, f]() mutable { f(); }));
    } catch (...) {
      f();
    }
  }

  void ready_now() {
    sf_result r{nullptr, nullptr, 0};
    void *native = nullptr;
    sf_status st = sf_wait_native(wait_, 0, &cpp_kind, &r, &native);
    result<V> out = read<V>(st, r, native);
    sf_leave(std::exchange(wait_, nullptr));
    if (st == SF_EHANDOFF) return join();
    finish(std::move(out));
  }

  void cancelled() {
    sf_leave(std::exchange(wait_, nullptr));
    sf_group_count_giveup(group_, SF_ECANCELED);
    finish(result<V>::failure(SF_ECANCELED));
  }

  void finish(result<V> r) {
#ifdef SF_HPP_HAS_STOP_TOKEN
    stop_cb_.reset();
#endif
    auto keep = std::move(self_);
    done_(std::move(r));
  }

  sf_group *group_;
  std::string key_;
  std::optional<F> fn_;
  Exec exec_;
  options opts_;
  Done done_;
  std::shared_ptr<async_op> self_;
  sf_ticket *wait_ = nullptr;
  std::mutex mu_;
  state state_ = state::idle;
  bool stop_requested_ = false;
#ifdef SF_HPP_HAS_STOP_TOKEN
  std::optional<std::stop_callback<stopper>> stop_cb_;
#endif
};

template <class V, class F, class Exec, class Done>
void start_async(sf_group *g, encoded_key key, F fn, Exec exec, options o, Done done) {
  auto op = std::make_shared<async_op<V, F, Exec, Done>>(
      g, std::string(static_cast<const char *>(key.data), key.size), std::move(fn), std::move(exec),
      std::move(o), std::move(done));
  op->start();
}

template <class V, class F, class Exec>
std::future<outcome<V>> run_future(sf_group *g, encoded_key key, F fn, Exec exec, options o) {
  auto promise = std::make_shared<std::promise<outcome<V>>>();
  std::future<outcome<V>> fut = promise->get_future();
  start_async<V>(g, key, std::move(fn), std::move(exec), std::move(o), [promise](result<V> r) {
    if (r.ok()) {
      promise->set_value(std::move(r).get());
    } else {
      try {
        r.rethrow();
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    }
  });
  return fut;
}

// The V of a fn: what it returns, or T for a fn returning std::shared_ptr<T>.
template <class R, class P = typename shared_pointee<R>::type>
struct value_of_result {
  using type = P;
};
template <class R>
struct value_of_result<R, void> {
  using type = R;
};
template <class F>
using value_of = typename value_of_result<std::decay_t<std::invoke_result_t<F &>>>::type;

}  // namespace detail

#ifdef SF_HPP_HAS_COROUTINES
/// What `co_await g.async(key, fn, executor)` awaits: joins the flight when
/// awaited, suspends the coroutine without blocking a thread, and resumes it
/// on the executor once the outcome is there (or the stop token asked to
/// stop: sf::error(SF_ECANCELED)). The work, if this caller leads, runs on
/// the executor. co_await yields outcome<V> or throws as result::rethrow().
/// try_result() before awaiting makes co_await yield the result<V> instead.
template <class V, class F, class Exec>
class awaitable {
 public:
  awaitable(sf_group *g, std::string key, F fn, Exec exec, options o)
      : g_(sf_group_retain(g)),
        key_(std::move(key)),
        fn_(std::move(fn)),
        exec_(std::move(exec)),
        opts_(std::move(o)) {}
  awaitable(awaitable &&o) noexcept
      : g_(std::exchange(o.g_, nullptr)),
        key_(std::move(o.key_)),
        fn_(std::move(o.fn_)),
        exec_(std::move(o.exec_)),
        opts_(std::move(o.opts_)) {}
  awaitable(const awaitable &) = delete;
  ~awaitable() { sf_group_release(g_); }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    detail::start_async<V>(g_, detail::encoded_key{key_.data(), key_.size()}, std::move(fn_),
                           std::move(exec_), std::move(opts_), [this, h](result<V> r) {
                             result_.emplace(std::move(r));
                             h.resume();
                           });
  }
  outcome<V> await_resume() { return std::move(*result_).get(); }

  /// Awaits the result<V> instead of throwing.
  struct try_awaiter {
    awaitable a;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { a.await_suspend(h); }
    result<V> await_resume() { return std::move(*a.result_); }
  };
  try_awaiter try_result() && { return try_awaiter{std::move(*this)}; }

 private:
  sf_group *g_;
  std::string key_;
  F fn_;
  Exec exec_;
  options opts_;
  std::optional<result<V>> result_;
};
#endif

// ===========================================================================
// Groups
// ===========================================================================

/// A namespace of flights keyed by bytes: an RAII handle of one sf_group
/// reference. Copying takes one more reference to the same group (copies
/// dedup with each other); moving transfers it (a moved-from group holds
/// nothing and every call on it fails with SF_EINVAL). Thread-safe.
class group {
 public:
  /// A new private group. Throws std::bad_alloc.
  group() : g_(sf_group_new()) {
    if (!g_) throw std::bad_alloc();
  }
  /// The process-wide group called `name`, shared with every caller of any
  /// language that opens the same name. Throws sf::error(SF_EINVAL) for an
  /// empty name, std::bad_alloc when out of memory.
  static group open(std::string_view name) {
    if (name.empty()) throw error(SF_EINVAL, "sf::group::open: a group name has at least one byte");
    sf_group *g = sf_group_open(name.data(), name.size());
    if (!g) throw std::bad_alloc();
    return group(g);
  }
  /// The process-wide fleet group called `name`: its flights are shared
  /// with every process (of any language) that opened the same name on the
  /// same server with the same key prefix, so a key stampeded by a whole
  /// fleet runs its work once; everything else is as for open(). The first
  /// open in the process creates it with `options`, later ones share it
  /// with its first options. The connection is made in the background: an
  /// unreachable server is no error (flights run locally until it answers,
  /// stats().fleet_fallbacks counts them), and a caller never sees a Redis
  /// error. Values reach other processes in their byte form (sf::codec);
  /// a value without one gives them SF_ENOBYTES. Built without hiredis, a
  /// local named group. Throws sf::error(SF_EINVAL) for an empty name, a
  /// negative or over-large duration, a NUL byte in a string, or options
  /// the engine refuses (a URL that does not parse, a prefix with '{', '}'
  /// or ':'); std::bad_alloc when out of memory.
  static group open_fleet(std::string_view name, const fleet_options &options = {}) {
    if (name.empty())
      throw error(SF_EINVAL, "sf::group::open_fleet: a group name has at least one byte");
    sf_fleet_options o = SF_FLEET_OPTIONS_INIT;
    o.url = fleet_text(options.url, "url");
    o.key_prefix = fleet_text(options.key_prefix, "key_prefix");
    o.lease_ms = fleet_ms(options.lease, "lease");
    o.max_value_bytes = options.max_value_bytes;
    o.connect_timeout_ms = fleet_ms(options.connect_timeout, "connect_timeout");
    o.command_timeout_ms = fleet_ms(options.command_timeout, "command_timeout");
    o.linger_ms = fleet_ms(options.linger, "linger");
    o.cooldown_ms = fleet_ms(options.cooldown, "cooldown");
    sf_group *g = sf_group_open_fleet(name.data(), name.size(), &o);
    if (!g) {
      throw error(SF_EINVAL, "sf::group::open_fleet: the engine refused the options (url \"" +
                                 (options.url.empty() ? std::string("(default)") : options.url) +
                                 "\", key_prefix \"" + options.key_prefix +
                                 "\") or is out of memory");
    }
    return group(g);
  }
  /// Takes over one reference the caller owns (NULL: holds nothing).
  static group adopt(sf_group *owned) noexcept { return group(owned); }
  /// Takes a reference of its own to `borrowed`.
  static group retain(sf_group *borrowed) noexcept { return group(sf_group_retain(borrowed)); }

  group(const group &o) noexcept : g_(sf_group_retain(o.g_)) {}
  group(group &&o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
  group &operator=(group o) noexcept {
    std::swap(g_, o.g_);
    return *this;
  }
  ~group() { sf_group_release(g_); }

  /// The handle, borrowed (NULL when nothing is held).
  sf_group *get() const noexcept { return g_; }
  explicit operator bool() const noexcept { return g_ != nullptr; }

  /// Runs `fn()` for `key`, or joins the flight already running for it, and
  /// blocks until the outcome. The leader runs fn on this thread; every C++
  /// caller of the flight gets the same V object. `opts`: a deadline or stop
  /// token bounding a follower's wait. Throws fn's exception (the same
  /// object in every C++ caller), sf::work_error / sf::panic_error for a
  /// failed leader of another language, sf::error for SF_EINVAL (a
  /// moved-from group), SF_EDEADLK (fn of this very flight asks for its own
  /// key), SF_ETIMEDOUT, SF_ECANCELED, SF_ENOBYTES.
  template <class F, class V = detail::value_of<F>>
  outcome<V> run(std::string_view key, F &&fn, const options &opts = {}) const {
    return try_run<F, V>(key, std::forward<F>(fn), opts).get();
  }

  /// run() returning the failure in the result instead of throwing (it
  /// throws nothing but std::bad_alloc from building a message).
  template <class F, class V = detail::value_of<F>>
  result<V> try_run(std::string_view key, F &&fn, const options &opts = {}) const {
    return detail::run_blocking<V>(g_, detail::encoded_key{key.data(), key.size()}, fn, opts);
  }

  /// run() without blocking: joins now; if this caller leads, fn runs on
  /// `exec` (any callable taking a std::function<void()>; a new thread by
  /// default). The future's value or exception is what run() returns or
  /// throws; a caller who stops waiting on it needs do nothing (the flight
  /// goes on). A stop token in `opts` ends the wait with SF_ECANCELED
  /// (deadlines apply to blocking waits: use std::future::wait_for here).
  template <class F, class Exec = thread_executor, class V = detail::value_of<F>>
  std::future<outcome<V>> run_async(std::string_view key, F fn, Exec exec = {},
                                    options opts = {}) const {
    return detail::run_future<V>(g_, detail::encoded_key{key.data(), key.size()}, std::move(fn),
                                 std::move(exec), std::move(opts));
  }

#ifdef SF_HPP_HAS_COROUTINES
  /// `co_await g.async(key, fn, exec)`: see sf::awaitable.
  template <class F, class Exec, class V = detail::value_of<F>>
  awaitable<V, std::decay_t<F>, Exec> async(std::string_view key, F &&fn, Exec exec,
                                            options opts = {}) const {
    return {g_, std::string(key), std::forward<F>(fn), std::move(exec), std::move(opts)};
  }
#endif

  /// The next caller of `key` starts a new flight; callers already in the
  /// running one still get its outcome. Throws sf::error(SF_EINVAL) on a
  /// moved-from group.
  void forget(std::string_view key) const { check(sf_forget(g_, key.data(), key.size())); }
  /// Forgets `key` only if nobody but its leader joined; true when the key
  /// is free now.
  bool forget_unshared(std::string_view key) const {
    int forgotten = 0;
    check(sf_forget_unshared(g_, key.data(), key.size(), &forgotten));
    return forgotten != 0;
  }
  /// The group's counters (sf_stats).
  sf_stats stats() const {
    sf_stats s{};
    check(sf_group_stats(g_, &s, sizeof s));
    return s;
  }

 private:
  explicit group(sf_group *owned) noexcept : g_(owned) {}
  static void check(sf_status st) {
    if (st != SF_OK) throw error(st);
  }
  // A fleet option's text as the engine takes it: NULL when empty.
  static const char *fleet_text(const std::string &text, const char *what) {
    if (text.find('\0') != std::string::npos)
      throw error(SF_EINVAL, std::string("sf::group::open_fleet: ") + what + " holds a NUL byte");
    return text.empty() ? nullptr : text.c_str();
  }
  // A fleet option's duration in whole milliseconds, as the engine takes it.
  static std::uint32_t fleet_ms(std::chrono::milliseconds d, const char *what) {
    if (d.count() < 0 || static_cast<unsigned long long>(d.count()) > UINT32_MAX)
      throw error(SF_EINVAL,
                  std::string("sf::group::open_fleet: ") + what + " is negative or over 2^32 ms");
    return static_cast<std::uint32_t>(d.count());
  }
  sf_group *g_;
};

/// A group whose keys are K (see sf::key_traits) and values V: run(key, fn)
/// takes a fn returning V (or something V is made from). Copies share the
/// group. keyed_group(sf::group) types an existing group, a named one say.
template <class K, class V>
class keyed_group {
 public:
  using key_type = K;
  using value_type = V;

  /// A new private group.
  keyed_group() = default;
  /// The flights of `g` (shares it).
  explicit keyed_group(sf::group g) noexcept : g_(std::move(g)) {}

  /// See sf::group::run.
  template <class F>
  outcome<V> run(const K &key, F &&fn, const options &opts = {}) const {
    return try_run(key, std::forward<F>(fn), opts).get();
  }
  /// See sf::group::try_run.
  template <class F>
  result<V> try_run(const K &key, F &&fn, const options &opts = {}) const {
    auto k = key_traits<K>::encode(key);
    return detail::run_blocking<V>(g_.get(), detail::encoded_key{k.data(), k.size()}, fn, opts);
  }
  /// See sf::group::run_async.
  template <class F, class Exec = thread_executor>
  std::future<outcome<V>> run_async(const K &key, F fn, Exec exec = {}, options opts = {}) const {
    auto k = key_traits<K>::encode(key);
    return detail::run_future<V>(g_.get(), detail::encoded_key{k.data(), k.size()}, std::move(fn),
                                 std::move(exec), std::move(opts));
  }
#ifdef SF_HPP_HAS_COROUTINES
  /// See sf::awaitable.
  template <class F, class Exec>
  awaitable<V, std::decay_t<F>, Exec> async(const K &key, F &&fn, Exec exec,
                                            options opts = {}) const {
    auto k = key_traits<K>::encode(key);
    return {g_.get(), std::string(k.data(), k.size()), std::forward<F>(fn), std::move(exec),
            std::move(opts)};
  }
#endif
  /// See sf::group::forget.
  void forget(const K &key) const {
    auto k = key_traits<K>::encode(key);
    g_.forget(std::string_view(k.data(), k.size()));
  }
  /// The untyped group.
  const sf::group &untyped() const noexcept { return g_; }

 private:
  sf::group g_;
};

/// One keyless resource (a configuration, a token): every concurrent
/// run(fn) shares one flight. Copies share the flight.
template <class V>
class single {
 public:
  using value_type = V;
  single() = default;
  /// The flight of the empty key of `g`.
  explicit single(sf::group g) noexcept : g_(std::move(g)) {}

  /// See sf::group::run.
  template <class F>
  outcome<V> run(F &&fn, const options &opts = {}) const {
    return try_run(std::forward<F>(fn), opts).get();
  }
  /// See sf::group::try_run.
  template <class F>
  result<V> try_run(F &&fn, const options &opts = {}) const {
    return detail::run_blocking<V>(g_.get(), detail::encoded_key{nullptr, 0}, fn, opts);
  }
  /// See sf::group::run_async.
  template <class F, class Exec = thread_executor>
  std::future<outcome<V>> run_async(F fn, Exec exec = {}, options opts = {}) const {
    return detail::run_future<V>(g_.get(), detail::encoded_key{nullptr, 0}, std::move(fn),
                                 std::move(exec), std::move(opts));
  }
#ifdef SF_HPP_HAS_COROUTINES
  /// See sf::awaitable.
  template <class F, class Exec>
  awaitable<V, std::decay_t<F>, Exec> async(F &&fn, Exec exec, options opts = {}) const {
    return {g_.get(), std::string(), std::forward<F>(fn), std::move(exec), std::move(opts)};
  }
#endif
  /// The next run() starts a new flight.
  void forget() const { g_.forget(std::string_view()); }
  /// The untyped group.
  const sf::group &untyped() const noexcept { return g_; }

 private:
  sf::group g_;
};

}  // namespace sf

#endif  // SINGLEFLIGHT_HPP

// ThreadSanitizer suppressions of the C++ API tests, read by TSan at start
// (a program may define this function; other builds ignore it).
//
// A std::exception_ptr frees its exception object when its last reference
// goes, through a refcount inside libstdc++.so, which is not instrumented:
// TSan sees the free but not the ordering, and reports a race with reads of
// the object by the thread that held the previous reference. That happens
// whenever a std::future carries an exception to another thread, and here
// whenever the work's exception is rethrown in several callers. The
// suppression names only that release; races anywhere else still fail.
extern "C" const char *__tsan_default_suppressions();
extern "C" const char *__tsan_default_suppressions() {
  return "race:std::__exception_ptr::exception_ptr::_M_release\n";
}

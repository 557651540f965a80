/* test_wake.c — the main thread's wake-up (util.h, km_wake_t): a signal sent before or during a
 * wait ends it, one signal ends one wait, and a reference held elsewhere keeps the wake-up alive
 * after its creator let go (a positions read can outlive its flow). The bounds are generous: they
 * tell a wait that was woken from one that ran out its 10 s, not how fast the wake-up is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util.h"

#include <pthread.h>
#include <time.h>

#define LONG_WAIT_MS 10000
#define WOKEN_WITHIN_MS 5000

static void test_signal_before_wait(void **state) {
    (void)state;
    km_wake_t *w = km_wake_new();
    km_wake_signal(w);
    int64_t t0 = km_now_mono_ms();
    km_wake_wait(w, LONG_WAIT_MS);
    assert_true(km_now_mono_ms() - t0 < WOKEN_WITHIN_MS);
    km_wake_unref(w);
}

static void test_one_signal_one_wait(void **state) {
    (void)state;
    km_wake_t *w = km_wake_new();
    km_wake_signal(w);
    km_wake_signal(w); /* two before one wait: still one wake-up, not two */
    km_wake_wait(w, LONG_WAIT_MS);
    int64_t t0 = km_now_mono_ms();
    km_wake_wait(w, 50);
    assert_true(km_now_mono_ms() - t0 >= 40);
    km_wake_unref(w);
}

static void *signal_later(void *arg) {
    km_wake_t *w = arg;
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    km_wake_signal(w);
    km_wake_unref(w);
    return NULL;
}

/* The other thread holds its own reference and drops it after signalling; the waiter's
 * reference is the last. */
static void test_signal_from_another_thread(void **state) {
    (void)state;
    km_wake_t *w = km_wake_new();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, signal_later, km_wake_ref(w)), 0);
    int64_t t0 = km_now_mono_ms();
    km_wake_wait(w, LONG_WAIT_MS);
    assert_true(km_now_mono_ms() - t0 < WOKEN_WITHIN_MS);
    pthread_join(th, NULL);
    km_wake_unref(w);
}

/* The creator lets go first; a signal through the reference still held is safe (ASan/valgrind
 * would see a use after free), and the last unref frees it. */
static void test_outlives_its_creator(void **state) {
    (void)state;
    km_wake_t *w = km_wake_new();
    km_wake_t *held = km_wake_ref(w);
    km_wake_unref(w);
    km_wake_signal(held);
    km_wake_wait(held, LONG_WAIT_MS);
    km_wake_unref(held);
    km_wake_signal(NULL); /* a flow started without a main loop (tests) passes NULL */
    km_wake_unref(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_before_wait),
        cmocka_unit_test(test_one_signal_one_wait),
        cmocka_unit_test(test_signal_from_another_thread),
        cmocka_unit_test(test_outlives_its_creator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

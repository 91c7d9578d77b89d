package dev.selfsup.core.cluster;

import java.util.HashMap;
import java.util.Map;

/**
 * Normalized mutual information of two labelings, {@code I(A; B) / sqrt(H(A) H(B))}, as DeepCluster reports
 * between successive epochs' assignments (1: the same partition; 0: independent).
 */
public final class Nmi {
    private Nmi() {}

    public static double of(int[] a, int[] b) {
        if (a.length != b.length || a.length == 0) {
            throw new IllegalArgumentException("labelings of different or zero length: " + a.length + ", " + b.length);
        }
        int n = a.length;
        Map<Integer, Integer> ca = new HashMap<>();
        Map<Integer, Integer> cb = new HashMap<>();
        Map<Long, Integer> joint = new HashMap<>();
        for (int i = 0; i < n; i++) {
            ca.merge(a[i], 1, Integer::sum);
            cb.merge(b[i], 1, Integer::sum);
            joint.merge(((long) a[i] << 32) | (b[i] & 0xffffffffL), 1, Integer::sum);
        }
        double ha = entropy(ca, n);
        double hb = entropy(cb, n);
        double mi = 0;
        for (Map.Entry<Long, Integer> e : joint.entrySet()) {
            int x = (int) (e.getKey() >> 32);
            int y = (int) (long) e.getKey();
            double pxy = e.getValue() / (double) n;
            mi += pxy * Math.log(pxy / ((ca.get(x) / (double) n) * (cb.get(y) / (double) n)));
        }
        if (ha == 0 || hb == 0) {
            return ha == hb ? 1.0 : 0.0;
        }
        return Math.max(0, Math.min(1, mi / Math.sqrt(ha * hb)));
    }

    private static double entropy(Map<Integer, Integer> counts, int n) {
        double h = 0;
        for (int c : counts.values()) {
            double p = c / (double) n;
            h -= p * Math.log(p);
        }
        return h;
    }
}

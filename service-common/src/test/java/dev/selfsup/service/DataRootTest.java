package dev.selfsup.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A dataset a client names wrongly: the answer names the setting and lists what it could name instead. */
class DataRootTest {
    @TempDir
    Path root;

    @Test
    void aWrongDatasetNamesTheSettingAndListsTheDatasetsThere() throws IOException {
        Files.createDirectories(root.resolve("fashion-mnist"));
        Files.createDirectories(root.resolve("icons"));
        Files.writeString(root.resolve("README"), "not a dataset");
        DataRoot data = new DataRoot();
        data.root = root;
        StatusRuntimeException missing = assertThrows(StatusRuntimeException.class, () -> data.resolve("cifar10"));
        assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode());
        String m = missing.getStatus().getDescription();
        assertTrue(m.contains("selfsup.data-root") && m.endsWith("datasets there: fashion-mnist, icons"), m);
        assertFalse(m.contains(root.toString()), "no server path: " + m);
        StatusRuntimeException absolute = assertThrows(StatusRuntimeException.class, () -> data.resolve("/tmp/photos"));
        assertEquals(Status.Code.PERMISSION_DENIED, absolute.getStatus().getCode());
        assertTrue(absolute.getStatus().getDescription().contains("fashion-mnist, icons"), absolute.getMessage());
        for (int i = 0; i < DataRoot.LISTED + 3; i++) {
            Files.createDirectories(root.resolve(String.format("set-%02d", i)));
        }
        assertTrue(data.available().endsWith(" and 5 more"), data.available());
    }
}
